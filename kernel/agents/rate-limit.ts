/**
 * Hostcall rate limits: a token bucket per agent and capability, holding up to one second's
 * worth of calls and refilled continuously on the kernel clock (so a manual clock drives it too).
 *
 * @example
 * const bucket = new TokenBucket(100);           // 100 calls/s, bursts of 100
 * if (!bucket.take(now)) deny('quota-exceeded');
 */
export class TokenBucket {
  private tokens: number;
  private at = Number.NaN;

  constructor(readonly perSecond: number) {
    this.tokens = perSecond;
  }

  /** Takes one token at time `now` (ms); false when the bucket is empty. */
  take(now: number): boolean {
    if (!Number.isNaN(this.at)) {
      this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    }
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
