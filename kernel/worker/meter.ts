/**
 * The worker side of fuel and memory metering for one component instance. The fuel pass
 * rewrites every core module to import `agentos:meter` and export its counter; the meter answers
 * those imports and reads the modules' counters. It refuses to instantiate a module that lacks
 * them (NotMetered): the kernel never runs an unmetered module.
 *
 * Fuel is handed to each core module in grants of at most `tick` units. When a module's counter
 * drops below zero it calls `out_of_fuel`, and the meter settles what that module used, checks
 * the budget and the deadline, gives the scheduler its say (`onTick`: it may park the thread
 * there) and grants again. Fuel still granted to other modules is reserved, so the total never
 * passes the budget by more than one basic block or one bulk operation (charged its size before
 * it runs). A module's start function is run by `instantiateCore` once the module's counter is
 * known (the pass exports it in place of the start section), so instantiation is metered too.
 *
 * Ending an invocation (budget spent, deadline passed, memory limit hit) is not a throw into the
 * module, which a `catch_all` of its own could catch and go on: the import returns 1 and the
 * module traps itself (`unreachable`, which wasm cannot catch); `ending` says why, and the
 * worker reports that instead of the trap.
 *
 * @example
 * const meter = new Meter(256 << 20); // linear memory cap, in bytes
 * const exports = glue.instantiate(getCoreModule, imports, meter.instantiateCore);
 * meter.begin({ fuel: 1e9, kind: 'invocation', tick: 1e6, deadline: null });
 * try { exports.handle(msg); } finally { const used = meter.end(); }
 */
import { FUEL, missingMeter } from '../fuel/names.js';

export type BudgetKind = 'invocation' | 'window' | 'lifetime';

/** What one invocation may use. */
export interface Budget {
  /** Fuel units. */
  fuel: number;
  /** Which limit `fuel` comes from, named in the error when it runs out. */
  kind: BudgetKind;
  /** Fuel per grant: how often the meter checks in (deadline, preemption). */
  tick: number;
  /** performance.now() after which the invocation ends, or null. */
  deadline: number | null;
}

/** Why `out_of_fuel` ended the invocation: the budget is spent. */
export class FuelExhausted extends Error {
  constructor(
    readonly used: number,
    readonly budget: number,
    readonly kind: BudgetKind,
  ) {
    super(`fuel exhausted: used ${used} of its ${kind} budget of ${budget}`);
  }
}

/** Thrown from `memory_limit` when a memory.grow would pass the cap. */
export class MemoryLimitHit extends Error {
  constructor(
    readonly bytes: number,
    readonly requested: number,
    readonly limit: number,
  ) {
    super(
      `memory limit: growing linear memory from ${bytes} by ${requested} bytes passes its cap of ${limit} bytes`,
    );
  }
}

/** Why `out_of_fuel` ended the invocation: the wall-clock deadline has passed. */
export class DeadlinePassed extends Error {
  constructor(readonly ms: number) {
    super(`deadline passed: the invocation ran ${ms} ms`);
  }
}

/** Thrown from `instantiateCore` for a core module the fuel pass did not rewrite. */
export class NotMetered extends Error {
  override readonly name = 'NotMetered';
  constructor(readonly lacks: string) {
    super(`refusing to run a core module without its fuel meter: it lacks ${lacks}`);
  }
}

const PAGE = 65536;

/**
 * One grant: a tick, but never more than half of what is left (at least 1), so the other core
 * modules of the instance can still be granted fuel when a tick is as large as the budget.
 */
const share = (tick: number, available: number): number =>
  Math.min(tick, Math.max(1, Math.floor(available / 2)));

interface Core {
  exports: Record<string, unknown>;
  fuel: WebAssembly.Global | null;
  memory: WebAssembly.Memory | null;
  /** Fuel granted at the last refill; what is left of it is `fuel.value`. */
  given: number;
}

type Imports = WebAssembly.Imports;

export class Meter {
  private readonly cores: Core[] = [];
  private settled = 0;
  private budget: Budget = { fuel: 0, kind: 'invocation', tick: 0, deadline: null };
  private started = 0;
  /** The largest linear memory total seen, in bytes. */
  peakMemory = 0;
  /** Why the meter ended the invocation (the module trapped itself on its word), or null. */
  ending: Error | null = null;
  /**
   * Called at every grant with the fuel used so far and since the last park; may block (the
   * scheduler parks the thread here). Returns the ms it blocked, which the deadline leaves out.
   */
  onTick: ((used: number, sliceUsed: number) => number) | null = null;
  private sliceStart = 0;

  /** @param limitBytes linear memory cap per instance (summed over its core modules) */
  constructor(private readonly limitBytes: number) {}

  /**
   * jco's `instantiateCore` hook: adds the meter's imports and remembers the counters.
   * @throws NotMetered for a module without the meter's import and counter
   */
  readonly instantiateCore = (module: WebAssembly.Module, imports?: Imports): WebAssembly.Instance => {
    const lacks = missingMeter(module);
    if (lacks) throw new NotMetered(lacks);
    const core: Core = { exports: {}, fuel: null, memory: null, given: 0 };
    const all: Imports = {
      ...imports,
      [FUEL.module]: {
        [FUEL.outOfFuel]: () => this.stop(() => this.outOfFuel(core)),
        [FUEL.memoryLimit]: (delta: number | bigint) => this.stop(() => this.memoryLimit(Number(delta))),
      },
    };
    const instance = new WebAssembly.Instance(module, all);
    const x = instance.exports;
    core.exports = x;
    core.fuel = (x[FUEL.fuelGlobal] as WebAssembly.Global | undefined) ?? null;
    core.memory = (x[`${FUEL.snapPrefix}memory_0`] as WebAssembly.Memory | undefined) ?? null;
    const limit = x[FUEL.memoryLimitGlobal] as WebAssembly.Global | undefined;
    if (limit) limit.value = Math.min(Math.floor(this.limitBytes / PAGE), 0xffffffff) | 0;
    this.cores.push(core);
    const bytes = this.memoryBytes();
    if (bytes > this.limitBytes) throw new MemoryLimitHit(0, bytes, this.limitBytes);
    // Its start function, metered like any call now that its counter is known (the fuel pass
    // took it out of the module's start section). A trap in it fails the instantiation.
    const start = x[FUEL.startExport];
    if (typeof start === 'function') start();
    return instance;
  };

  /** Each core module's exports, in instantiation order (what a snapshot reads and writes). */
  exports(): Record<string, unknown>[] {
    return this.cores.map((c) => c.exports);
  }

  /** The memories the instance's core modules define (imported ones are another core's). */
  memories(): WebAssembly.Memory[] {
    return this.cores.flatMap((c) => (c.memory ? [c.memory] : []));
  }

  /** Linear memory now, in bytes, over the instance's core modules. */
  memoryBytes(): number {
    let n = 0;
    for (const c of this.cores) n += c.memory?.buffer.byteLength ?? 0;
    return n;
  }

  /**
   * Starts an invocation. The module holding the memory (where the guest's code runs) gets its
   * first grant now; the others (jco's small trampoline modules) ask when they first run.
   */
  begin(budget: Budget): void {
    this.budget = budget;
    this.ending = null;
    this.settled = 0;
    this.sliceStart = 0;
    this.started = performance.now();
    for (const c of this.cores) this.grant(c, 0);
    const main = this.cores.find((c) => c.fuel && c.memory);
    if (main) this.grant(main, share(budget.tick, budget.fuel));
  }

  /**
   * Goes on with the invocation begun earlier (a spare instance's instantiation, worker/spares.ts)
   * under `budget`, which must grant as the first did (the same fuel, kind and tick): what was
   * used and granted stays; the deadline counts from now.
   */
  resume(budget: Budget): void {
    const b = this.budget;
    if (budget.fuel !== b.fuel || budget.kind !== b.kind || budget.tick !== b.tick)
      throw new Error('a resumed invocation must have the budget it began with');
    this.budget = budget;
    this.started = performance.now();
  }

  /** Ends the invocation: returns the fuel it used and takes back what was left. */
  end(): number {
    for (const c of this.cores) this.settle(c);
    this.peakMemory = Math.max(this.peakMemory, this.memoryBytes());
    return this.settled;
  }

  /** Fuel used so far in this invocation. */
  used(): number {
    let n = this.settled;
    for (const c of this.cores) if (c.fuel) n += c.given - Number(c.fuel.value as bigint);
    return n;
  }

  /** Moves what `c` used into `settled`; its counter is zeroed, so nothing is counted twice. */
  private settle(c: Core): void {
    if (!c.fuel) return;
    this.settled += c.given - Number(c.fuel.value as bigint);
    this.grant(c, 0);
  }

  private grant(c: Core, n: number): void {
    if (!c.fuel) return;
    c.fuel.value = BigInt(n);
    c.given = n;
  }

  /** 0: go on; 1: the module traps itself, `ending` holding why. */
  private stop(f: () => void): number {
    try {
      f();
      return 0;
    } catch (e) {
      this.ending ??= e instanceof Error ? e : new Error(String(e));
      return 1;
    }
  }

  private outOfFuel(core: Core): void {
    this.settle(core);
    const b = this.budget;
    if (b.deadline !== null && performance.now() > b.deadline) {
      throw new DeadlinePassed(Math.round(performance.now() - this.started));
    }
    let reserved = 0;
    for (const c of this.cores) if (c !== core) reserved += c.given;
    const available = b.fuel - this.settled - reserved;
    if (available <= 0) throw new FuelExhausted(this.used(), b.fuel, b.kind);
    if (this.onTick) {
      const parkedMs = this.onTick(this.settled, this.settled - this.sliceStart);
      if (parkedMs > 0) {
        this.sliceStart = this.settled;
        if (b.deadline !== null) b.deadline += parkedMs;
        this.started += parkedMs;
      }
    }
    this.grant(core, share(b.tick, available));
  }

  private memoryLimit(deltaPages: number): void {
    throw new MemoryLimitHit(this.memoryBytes(), deltaPages * PAGE, this.limitBytes);
  }
}
