/**
 * Meters one function body, in the binary: the original bytes are copied through in runs, with
 * the charges inserted between them. Costs one unit per instruction (`end` and `else` free).
 *
 * A basic block ("run") is a stretch of instructions that always execute together once the
 * first does; its whole cost is charged where it starts. A new run starts at the function
 * entry, inside a `loop` (checked there: branches to a loop land on its check), in each arm of
 * an `if` and each `catch`, after a conditional branch (`br_if`, `br_on_*`), after anything that
 * leaves unconditionally (the dead code that follows is charged but never runs), and after the
 * `end` of an `if` or `try` (a join) or of a `block` some branch targets. A `block` no branch
 * targets, and a `loop`'s end, continue the run they are in: the only way past them is through it.
 *
 * Run charges go to a local (a register), not to the global counter: the local is flushed into
 * the global and checked at loop headers; flushed before `return`, tail calls and throws and at
 * the end of the body (wrapped in a block of its results, so a branch to the function's own
 * label flushes too); and flushed before a call when what may be pending there passes `SLACK`.
 * Function entries charge the global directly and check it. The pass bounds what may be pending
 * at each point (the most any path since a flush can have charged: joins take the larger, a
 * handler's entry counts as unbounded), and an exit also checks when that bound passes `SLACK`.
 * So a trap, a throw or a deep recursion unwinding leaves at most `SLACK` units per frame
 * uncounted or unchecked, and otherwise the count passes the budget by at most one basic block.
 *
 * A bulk operation (`memory.fill`, `.copy`, `.init`, `table.fill`, `.copy`, `.init`, `.grow`) is
 * one instruction but takes time by its size, so its size is charged too, one unit per byte or
 * element, to the global, and checked, after its operands and before it runs. Each `memory.grow`
 * first calls the pass's grow check with its delta.
 *
 * @example
 * const parts = meterBody(bytes, start, end, { ...context, params: 2, wrapper: [0x7f] });
 */
import { Charges } from './charges.js';
import { BULK, cannotMeter, skipAtomic, skipGc, skipMisc, skipPlain, skipSimd } from './opcodes.js';
import { Reader, u32 } from './wasm-bytes.js';

export interface BodyContext {
  what: string;
  /** Index of the fuel counter global. */
  fuel: number;
  outOfFuel: number;
  /** The grow check's function index, or -1 when the module has no memory. */
  growCheck: number;
  /** Function indices at or above `shiftFrom` move up by `shift` (the pass's imports). */
  shiftFrom: number;
  shift: number;
  memory64: boolean;
  counts: { loops: number; charges: number; memoryGrows: number; bulkOps: number };
}

/** Units that may stay pending (unflushed) at a call, or unchecked at an exit. */
export const SLACK = 128;
/** A bound that forces the next flush and check: what is pending is not known. */
const UNKNOWN = SLACK + 1;

/** Code filled in once what it depends on is known. */
interface Hole {
  code: readonly number[];
}

/** A run: its charge (a hole), its cost, the bound on what was pending before it, its first call. */
interface Run extends Hole {
  kind: 'entry' | 'check' | 'charge';
  cost: number;
  pending: number;
  call: Hole | null;
}

interface Frame {
  kind: 'func' | 'block' | 'loop' | 'if' | 'try';
  targeted: boolean;
  /** The largest bound a branch to this frame's end carried. */
  exits: number;
  /** An `if`: the bound at its start (where an else arm, or the path without one, begins). */
  start: number;
  hasElse: boolean;
}

const I64 = 0x7e;
const I32 = 0x7f;

const frame = (kind: Frame['kind'], start = 0): Frame => ({
  kind,
  targeted: false,
  exits: 0,
  start,
  hasElse: false,
});

/**
 * The metered body (locals and code, without its size) as byte runs.
 * @param params the function's parameter count; `wrapper`: the block type of its results
 */
export function meterBody(
  bytes: Uint8Array,
  start: number,
  end: number,
  ctx: BodyContext & { params: number; wrapper: readonly number[] },
): Uint8Array[] {
  const r = new Reader(bytes, start, end, ctx.what);
  const groups = r.u32();
  let locals = ctx.params;
  for (let i = 0; i < groups; i++) {
    locals += r.u32();
    r.valType();
  }
  const declsFrom = start + u32(groups).length;
  const declsTo = r.pos;
  const pending = locals;
  const added: number[] = [I64];
  const temps = new Map<number, number>();
  const temp = (type: number): number => {
    let t = temps.get(type);
    if (t === undefined) {
      t = pending + added.length;
      added.push(type);
      temps.set(type, t);
    }
    return t;
  };
  const { counts } = ctx;
  const c = new Charges(ctx.fuel, ctx.outOfFuel, pending);

  const out: (Uint8Array | Hole)[] = [];
  let from = r.pos;
  const cut = (at: number): void => {
    if (at > from) out.push(bytes.subarray(from, at));
    from = at;
  };
  const put = (code: readonly number[]): void => {
    out.push(Uint8Array.from(code));
  };
  let run: Run = { kind: 'entry', cost: 0, code: [], pending: 0, call: null };
  out.push(run);
  put([0x02, ...ctx.wrapper]);
  /** Fills the run's charge; returns the bound on what is pending after it. */
  const endRun = (): number => {
    const cost = run.cost;
    let after = 0;
    if (run.kind === 'charge') {
      if (cost > 0) run.code = c.charge(cost);
      after = run.pending + cost;
      // Its first call flushes when too much may be pending there (all of the run is charged).
      if (run.call && after > SLACK) {
        run.call.code = c.flush();
        after = 0;
      }
    } else if (run.kind === 'check') run.code = [...c.flush(Math.max(1, cost)), ...c.check];
    else run.code = c.entry(Math.max(1, cost));
    if (run.code.length) counts.charges++;
    return after;
  };
  /** Starts a run of `kind` after the instruction just read, with `pendingBefore` pending. */
  const startRun = (kind: Run['kind'], pendingBefore: number): void => {
    cut(r.pos);
    run = { kind, cost: 0, code: [], pending: pendingBefore, call: null };
    out.push(run);
  };
  /** Inserts `code` before the instruction that starts at `at`. */
  const before = (at: number, code: readonly number[]): void => {
    cut(at);
    put(code);
  };
  /** A call at `at`: the run's first one gets a hole for a flush. */
  const calling = (at: number): void => {
    if (run.kind !== 'charge' || run.call) return;
    cut(at);
    run.call = { code: [] };
    out.push(run.call);
  };
  const frames: Frame[] = [frame('func')];
  const target = (label: number, bound: number): void => {
    const f = frames[frames.length - 1 - label];
    if (!f) throw r.fail(`a branch to label ${label}, which is not there`);
    f.targeted = true;
    f.exits = Math.max(f.exits, bound);
  };
  const func = (at: number, op: number): void => {
    const f = r.u32();
    if (f >= ctx.shiftFrom) {
      cut(at);
      put([op, ...u32(f + ctx.shift)]);
      from = r.pos;
    }
  };
  /** Leaves the function, or may (a throw): pending fuel goes to the global, checked if large. */
  const leaving = (at: number, checked = true): void => {
    run.cost++;
    const bound = endRun();
    before(at, [...c.flush(), ...(checked && bound > SLACK ? c.check : [])]);
  };

  for (;;) {
    const at = r.pos;
    const op = r.u8();
    switch (op) {
      case 0x02: // block
      case 0x06: // try
        r.blockType();
        run.cost++;
        frames.push(frame(op === 0x02 ? 'block' : 'try'));
        continue;
      case 0x03: // loop
        r.blockType();
        run.cost++;
        endRun();
        frames.push(frame('loop'));
        counts.loops++;
        startRun('check', 0);
        continue;
      case 0x04: {
        // if
        r.blockType();
        run.cost++;
        const bound = endRun();
        frames.push(frame('if', bound));
        startRun('charge', bound);
        continue;
      }
      case 0x05: {
        // else
        const f = frames[frames.length - 1]!;
        f.exits = Math.max(f.exits, endRun());
        f.hasElse = true;
        startRun('charge', f.start);
        continue;
      }
      case 0x07: // catch
      case 0x19: {
        // catch_all: entered from wherever the try body threw
        if (op === 0x07) r.u32();
        const f = frames[frames.length - 1]!;
        f.exits = Math.max(f.exits, endRun());
        startRun('charge', UNKNOWN);
        continue;
      }
      case 0x18: {
        // delegate: ends the try
        r.u32();
        const f = frames.pop()!;
        startRun('charge', Math.max(endRun(), f.exits));
        continue;
      }
      case 0x1f: {
        // try_table: its catch clauses branch to labels outside it
        r.blockType();
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const kind = r.u8();
          if (kind <= 1) r.u32();
          else if (kind > 3) throw r.fail(`a try_table catch of kind ${kind}`);
          target(r.u32(), UNKNOWN);
        }
        run.cost++;
        frames.push(frame('try'));
        continue;
      }
      case 0x0b: {
        const f = frames.pop()!;
        if (f.kind === 'func') {
          const bound = Math.max(endRun(), f.exits);
          cut(r.pos); // this end closes the wrapper block
          put([...c.flush(), ...(bound > SLACK ? c.check : []), 0x0b]);
          from = r.pos;
          if (r.pos !== end) throw r.fail('code after the end of a function body');
          const head = Uint8Array.from(u32(groups + added.length));
          return [
            head,
            bytes.subarray(declsFrom, declsTo),
            ...added.map((t) => Uint8Array.of(1, t)),
            ...filled(out),
          ];
        }
        if (f.kind === 'loop' || (f.kind === 'block' && !f.targeted)) continue;
        const fell = endRun();
        startRun('charge', Math.max(fell, f.exits, f.kind === 'if' && !f.hasElse ? f.start : 0));
        continue;
      }
      case 0x0c: // br
      case 0x0d: // br_if
      case 0xd5: // br_on_null
      case 0xd6: {
        // br_on_non_null
        const label = r.u32();
        run.cost++;
        const bound = endRun();
        target(label, bound);
        startRun('charge', op === 0x0c ? 0 : bound);
        continue;
      }
      case 0x0e: {
        // br_table
        const labels: number[] = [];
        for (let n = r.u32(), i = 0; i <= n; i++) labels.push(r.u32());
        run.cost++;
        const bound = endRun();
        for (const l of labels) target(l, bound);
        startRun('charge', 0);
        continue;
      }
      case 0x0f: // return
      case 0x08: // throw
      case 0x09: // rethrow
      case 0x0a: // throw_ref
        if (op === 0x08 || op === 0x09) r.u32();
        leaving(at);
        startRun('charge', 0);
        continue;
      case 0x12: // return_call: the callee's entry checks
        leaving(at, false);
        func(at, op);
        startRun('charge', 0);
        continue;
      case 0x13: // return_call_indirect
      case 0x15: // return_call_ref
        r.u32();
        if (op === 0x13) r.u32();
        leaving(at, false);
        startRun('charge', 0);
        continue;
      case 0x10: // call
        calling(at);
        func(at, op);
        run.cost++;
        continue;
      case 0xd2: // ref.func
        func(at, op);
        run.cost++;
        continue;
      case 0x11: // call_indirect
      case 0x14: // call_ref
        calling(at);
        r.u32();
        if (op === 0x11) r.u32();
        run.cost++;
        continue;
      case 0x40: // memory.grow
        if (r.u32() !== 0) throw cannotMeter(r, 'MemoryGrow', 'only one memory is supported');
        before(at, [0x10, ...u32(ctx.growCheck)]);
        counts.memoryGrows++;
        run.cost++;
        continue;
      case 0xfc: {
        const sub = r.u32();
        skipMisc(r, sub);
        const bulk = BULK.get(sub);
        if (bulk) {
          const type = bulk.size === 'memory' && ctx.memory64 ? I64 : I32;
          before(at, c.sized(temp(type), type));
          counts.bulkOps++;
        }
        run.cost++;
        continue;
      }
      case 0xfb: {
        const sub = r.u32();
        run.cost++;
        if (sub === 24 || sub === 25) {
          // br_on_cast, br_on_cast_fail: flags, label, two heap types
          r.u8();
          const label = r.u32();
          r.s33();
          r.s33();
          const bound = endRun();
          target(label, bound);
          startRun('charge', bound);
        } else skipGc(r, sub);
        continue;
      }
      case 0xfd:
        skipSimd(r, r.u32());
        run.cost++;
        continue;
      case 0xfe:
        skipAtomic(r, r.u32());
        run.cost++;
        continue;
      default:
        skipPlain(r, op);
        run.cost++;
    }
  }
}

/** The runs, with each charge's code in place. */
function filled(out: readonly (Uint8Array | Hole)[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (const p of out) {
    if (p instanceof Uint8Array) parts.push(p);
    else if (p.code.length) parts.push(Uint8Array.from(p.code));
  }
  return parts;
}
