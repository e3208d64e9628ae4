/**
 * Spare instances: once a worker has started an instance of a component, it instantiates a
 * spare one in an idle moment (between commands), so the next start of that component on this
 * worker (a spawn, a wake, a restart) runs only init, or puts a kept state back.
 *
 * A spare starts exactly as a fresh instance would. It is instantiated under the budget the start
 * that asked for it had (the same fuel, kind and tick: the meter grants the same way), and kept
 * with its meter mid-call, the counters as instantiation left them. A start with the same key
 * (component, world, budget, memory cap, import plan, worker modules) takes it and goes on with
 * init, so its fuel, the point where a tight init budget runs out and what the journal records
 * are those of a fresh start; only the wall-clock deadline counts from the claim. Any other start
 * is fresh. Instantiation may not call the kernel: an import called then ends the spare.
 *
 * Each worker keeps `each` spares for each of the last COMPONENTS components it started, made one
 * per idle moment; a spare whose instantiation failed is not tried again for that key. A command
 * that comes while a spare is instantiated ends it (checked at each grant) and goes first; that
 * component gets no spare until it starts again. Their memories count in the process gate like
 * any instance's (memory-gate.ts `admitSpare`: only while the process has room for many); past a
 * quarter of the capacity each worker drops its spares after its next command (`crowded`), and a
 * start the gate would refuse drops the starting worker's first.
 *
 * @example
 * const spares = new Spares(1, (s) => dropped(s.meter.memories().length));
 * const spare = spares.take(key); // or undefined: start fresh
 * spares.want(key, make);         // after a start
 * while (!commandWaiting() && spares.idle()) {}
 */
import type { LocalFunction } from '../sdk/capability.js';
import { type Glue, importObject, type Link, type workerSides } from './imports.js';
import { admitSpare, crowded, dropped, memoriesOf, memoryCap, settle } from './memory-gate.js';
import { Meter } from './meter.js';
import type { LoadTask } from './protocol.js';
import { remember } from './snapshot.js';

/** How many components' spares a worker keeps: those it started last. */
export const COMPONENTS = 4;

export interface Spare {
  readonly exports: Record<string, (...args: unknown[]) => unknown>;
  /** Mid-call: instantiation's fuel is on it, under the budget of its key. */
  readonly meter: Meter;
  readonly locals: LocalFunction[];
  /** It is an agent's instance now: its imports call the kernel. */
  claim(): void;
}

/**
 * A new spare; `failed`: instantiation did not finish; `no room`: the process gate said no;
 * `interrupted`: a command came while it was instantiated, which went first.
 */
export type Made = Spare | 'failed' | 'no room' | 'interrupted';

/** Made as `interrupted` (the meter's onTick throws it, ending the instantiation). */
class Interrupted extends Error {}

/** Whether a command waits for the worker (a spare's instantiation then gives way). */
export type Waiting = () => boolean;

export class Spares {
  /** Newest last. */
  private readonly recipes = new Map<string, (waiting: Waiting) => Made>();
  private readonly kept = new Map<string, Spare[]>();
  private readonly failed = new Set<string>();
  /** Spares kept now. */
  private count = 0;
  /** Whether a recipe may lack spares (false once a pass made none): most idle calls end here. */
  private wanting = false;

  /**
   * @param each spares kept per component (0: none)
   * @param discard called for each spare dropped unused (its memories are garbage from then on)
   */
  constructor(
    private readonly each: number,
    private readonly discard: (spare: Spare) => void,
  ) {}

  /** A spare for `key`, now the caller's, or undefined. */
  take(key: string): Spare | undefined {
    const spare = this.kept.get(key)?.pop();
    if (spare) {
      this.count--;
      this.wanting = true;
    }
    return spare;
  }

  /** A start of `key` succeeded: idle moments make its spares with `make`. */
  want(key: string, make: (waiting: Waiting) => Made): void {
    if (this.each === 0 || this.failed.has(key)) return;
    this.recipes.delete(key);
    this.recipes.set(key, make);
    this.wanting = true;
    for (const old of this.recipes.keys()) {
      if (this.recipes.size <= COMPONENTS) break;
      this.forget(old);
    }
  }

  /**
   * Makes one wanted spare: true if it did something (call again while the worker stays idle).
   * Past a quarter of the process's capacity (`crowded`) it drops its spares instead.
   */
  idle(waiting: Waiting = () => false): boolean {
    if (this.count > 0 && crowded()) {
      this.clear();
      return false;
    }
    if (!this.wanting) return false;
    for (const [key, make] of [...this.recipes].reverse()) {
      const list = this.kept.get(key) ?? [];
      if (list.length >= this.each) continue;
      const made = make(waiting);
      if (made === 'no room') return false;
      // Not tried again until its component starts again: a long instantiation is not begun
      // anew at every gap between commands.
      if (made === 'interrupted') {
        this.forget(key);
        return false;
      }
      if (made === 'failed') {
        this.failed.add(key);
        this.forget(key);
      } else {
        list.push(made);
        this.kept.set(key, list);
        this.count++;
      }
      return true;
    }
    this.wanting = false;
    return false;
  }

  /** Drops every spare (they are made again when there is room); how many went. */
  clear(): number {
    const n = this.count;
    for (const list of this.kept.values()) for (const s of list) this.discard(s);
    this.kept.clear();
    this.count = 0;
    this.wanting = true;
    return n;
  }

  /** How many spares are kept now. */
  get size(): number {
    return this.count;
  }

  private forget(key: string): void {
    this.recipes.delete(key);
    const list = this.kept.get(key) ?? [];
    for (const s of list) this.discard(s);
    this.count -= list.length;
    this.kept.delete(key);
  }
}

/** What a spare must match to stand in for a fresh start (worker/spares.ts). */
export const spareKey = (t: LoadTask): string =>
  JSON.stringify([
    t.digest,
    t.world,
    t.budget.fuel,
    t.budget.kind,
    t.budget.tick,
    t.memoryBytes,
    t.imports,
    t.workerModules,
  ]);

type Sides = Awaited<ReturnType<typeof workerSides>>;
type Modules = Record<string, WebAssembly.Module>;

/** Makes spares of `task`'s component, instantiated as `task`'s fresh start was. */
export function spareMaker(
  task: LoadTask,
  g: Glue,
  modules: Modules,
  sides: Sides,
  linkOf: () => Link,
): (waiting: Waiting) => Made {
  const { digest, imports: plan, memoryBytes } = task;
  const { fuel, kind, tick } = task.budget;
  return (waiting) => {
    const n = memoriesOf(digest, modules);
    if (!admitSpare(n)) return 'no room';
    const meter = new Meter(memoryCap(memoryBytes));
    const link: Link = { ...linkOf(), sparing: true };
    const { imports, locals } = importObject(plan, sides, link);
    meter.begin({ fuel, kind, tick, deadline: null });
    // At each grant (the grants are the same either way): a command waiting ends the spare.
    meter.onTick = () => {
      if (waiting()) throw new Interrupted();
      return 0;
    };
    let exports: Spare['exports'] | null = null;
    try {
      exports = g.instantiate((name) => modules[name]!, imports, meter.instantiateCore);
    } catch {
      exports = null;
    }
    settle(n, meter.memories());
    meter.onTick = null;
    if (!exports || meter.ending) {
      dropped(meter.memories().length);
      return meter.ending instanceof Interrupted ? 'interrupted' : 'failed';
    }
    remember(digest, meter.exports());
    const claim = (): void => {
      link.sparing = false;
    };
    return { exports, meter, locals, claim };
  };
}
