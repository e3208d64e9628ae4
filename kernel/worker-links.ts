/**
 * What ties each worker to the kernel besides its command channel: the hostcall channel served
 * by the dispatcher (a blocking hostcall gives its CPU permit away until it is answered) and the
 * park channel the scheduler watches.
 *
 * @example
 * const links = new WorkerLinks(dispatcher, owners, () => executor);
 * links.attach(slot);   // when a worker starts
 * links.detach(slot);   // when it is lost
 */
import type { AgentRuntime } from './agent.js';
import { type Served, serveChannel } from './bridge/channel.js';
import { watchParks } from './bridge/park.js';
import type { Dispatcher } from './dispatcher.js';
import type { Executor } from './executor.js';
import type { WorkerSlot } from './pool.js';

export class WorkerLinks {
  private readonly stops = new Map<number, (() => void)[]>();

  /**
   * @param owners the agent whose call owns each worker's hostcall channel
   * @param executor the executor (it exists once the workers have started)
   */
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly owners: ReadonlyMap<number, AgentRuntime>,
    private readonly executor: () => Executor | undefined,
  ) {}

  attach(slot: WorkerSlot): void {
    const dispatch = this.dispatcher.forChannel();
    const server = serveChannel(
      slot.channel,
      (fn, args, request) => {
        const executor = this.executor()!;
        executor.beforeHostcall(slot);
        const served = dispatch.call(this.owners.get(slot.thread) ?? null, fn, args, request);
        if (!(served instanceof Promise)) return served;
        // A blocking call: its CPU permit goes to others meanwhile, and its answer waits for one.
        executor.blocked(slot);
        return served.then((s) => new Promise<Served>((wake) => executor.unblocked(slot, () => wake(s))));
      },
      (response, status) => dispatch.result(response, status),
    );
    const parks = watchParks(slot.park, (used) => this.executor()?.parked(slot, used));
    this.stops.set(slot.thread, [() => server.stop(), () => parks.stop()]);
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
