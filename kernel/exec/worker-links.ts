/**
 * What ties each worker to the kernel besides its command channel: the hostcall channel served
 * by the dispatcher (a blocking hostcall gives its CPU permit away until it is answered), the
 * post ring of calls the worker answered itself, and the park channel the scheduler watches.
 *
 * Posted calls are applied in the order they were made and before anything that follows them:
 * the ring is drained before each blocking call of that worker is served, when its command
 * returns, when it is lost, and otherwise as soon as the kernel's event loop gets to it.
 *
 * @example
 * const links = new WorkerLinks(dispatcher, (t) => executor.ownerOf(t), () => executor, logger);
 * links.attach(slot);   // when a worker starts
 * links.detach(slot);   // when it is lost
 */
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agents/agent.js';
import { type Served, serveChannel } from '../bridge/channel.js';
import { watchParks } from '../bridge/park.js';
import { drainPosts, hasPosts, watchPosts } from '../bridge/post-ring.js';
import type { Dispatcher } from './dispatcher.js';
import type { Executor } from './executor.js';
import type { WorkerSlot } from './pool.js';

export class WorkerLinks {
  private readonly stops = new Map<number, (() => void)[]>();

  /**
   * @param ownerOf the agent whose call holds worker `thread`, whose hostcalls its channels carry
   * @param executor the executor (it exists once the workers have started)
   */
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly ownerOf: (thread: number) => AgentRuntime | undefined,
    private readonly executor: () => Executor | undefined,
    private readonly logger: Logger,
  ) {}

  attach(slot: WorkerSlot): void {
    const dispatch = this.dispatcher.forChannel();
    const server = serveChannel(
      slot.channel,
      (fn, args, request) => {
        this.drain(slot);
        const executor = this.executor()!;
        executor.beforeHostcall(slot);
        const served = dispatch.call(this.ownerOf(slot.thread) ?? null, fn, args, request);
        if (!(served instanceof Promise)) return served;
        // A blocking call: its CPU permit goes to others meanwhile, and its answer waits for one.
        executor.blocked(slot);
        return served.then((s) => new Promise<Served>((wake) => executor.unblocked(slot, () => wake(s))));
      },
      (response, status) => dispatch.result(response, status),
    );
    const parks = watchParks(slot.park, (used) => this.executor()?.parked(slot, used));
    const posts = watchPosts(
      slot.posts,
      () => this.drain(slot),
      (e) => this.logger.error({ thread: slot.thread, err: e }, 'draining posted calls failed'),
    );
    this.stops.set(slot.thread, [() => server.stop(), () => parks.stop(), () => posts.stop()]);
  }

  /** Applies the calls `slot`'s worker posted, as made by the agent whose command it runs. */
  drain(slot: WorkerSlot): void {
    if (!hasPosts(slot.posts)) return; // most blocking calls find it empty: no scheduler pass
    const executor = this.executor();
    const drain = (): void => {
      drainPosts(
        slot.posts,
        (fn, index, args, result) => {
          const agent = this.ownerOf(slot.thread);
          if (!agent) throw new Error('a call was posted outside any command');
          executor?.beforeHostcall(slot, index);
          this.dispatcher.posted(agent, fn, args, result);
        },
        (e) => this.logger.error({ thread: slot.thread, err: e }, 'a posted call could not be applied'),
      );
    };
    // Receivers woken by the drain are dispatched once, after it, with all it queued for them.
    if (executor) executor.coalesce(drain);
    else drain();
  }

  /** A command for `agent` returned: its posted calls are applied, and what it was granted goes back. */
  commandEnded(slot: WorkerSlot, agent: string): void {
    this.drain(slot);
    const owner = this.ownerOf(slot.thread);
    if (owner?.id === agent) this.dispatcher.commandEnded(owner);
  }

  /** The worker is gone: what it posted before it died still counts; its command ended. */
  lost(slot: WorkerSlot): void {
    const owner = this.ownerOf(slot.thread);
    if (owner) this.commandEnded(slot, owner.id);
    this.detach(slot);
  }

  detach(slot: WorkerSlot): void {
    for (const stop of this.stops.get(slot.thread) ?? []) stop();
    this.stops.delete(slot.thread);
  }

  stopAll(): void {
    for (const stops of this.stops.values()) for (const stop of stops) stop();
    this.stops.clear();
  }
}
