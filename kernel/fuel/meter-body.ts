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
 * the global and checked at loop headers, and flushed before `return`, tail calls and throws and
 * at the end of the body. The body is wrapped in a block of its results so that a branch to the
 * function's own label flushes too. Function entries charge the global directly and check it.
 * Calls need no flush: the callee charges the global itself. Only a trap (the instance is
 * discarded then) or an exception a callee throws leaves pending fuel of the frames it unwinds
 * uncounted: at most what each ran since its last flush, once per throw.
 *
 * A bulk operation (`memory.fill`, `.copy`, `.init`, `table.fill`, `.copy`, `.init`, `.grow`) is
 * one instruction but takes time by its size, so its size is charged too, one unit per byte or
 * element, to the global, and checked, after its operands and before it runs (a memory64 size is
 * charged at most 2^62, so the counter cannot wrap). Each `memory.grow` first calls the pass's
 * grow check with its delta.
 *
 * @example
 * const parts = meterBody(bytes, start, end, { ...context, params: 2, wrapper: [0x7f] });
 */
import { BULK, cannotMeter, skipAtomic, skipGc, skipMisc, skipPlain, skipSimd } from './opcodes.js';
import { Reader, s64, u32 } from './wasm-bytes.js';

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

/** A run's charge, filled in once its cost is known. */
interface Slot {
  kind: 'entry' | 'check' | 'charge';
  cost: number;
  code: readonly number[];
}

type Frame = { kind: 'func' | 'block' | 'loop' | 'if' | 'try'; targeted: boolean };

const I64 = 0x7e;
const I32 = 0x7f;
const CAP = s64(1n << 62n);

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
  const { fuel, counts } = ctx;
  const check = [0x23, ...u32(fuel), 0x42, 0x00, 0x53, 0x04, 0x40, 0x10, ...u32(ctx.outOfFuel), 0x0b];
  const P = u32(pending);
  const flush = (cost: number): number[] => [
    0x23,
    ...u32(fuel),
    0x20,
    ...P,
    ...(cost ? [0x42, ...s64(BigInt(cost)), 0x7c] : []),
    0x7d,
    0x24,
    ...u32(fuel),
    0x42,
    0x00,
    0x21,
    ...P,
  ];

  const out: (Uint8Array | Slot)[] = [];
  let from = r.pos;
  const cut = (at: number): void => {
    if (at > from) out.push(bytes.subarray(from, at));
    from = at;
  };
  const put = (code: readonly number[]): void => {
    out.push(Uint8Array.from(code));
  };
  let run: Slot = { kind: 'entry', cost: 0, code: [] };
  out.push(run);
  put([0x02, ...ctx.wrapper]);
  const endRun = (): void => {
    const c = run.cost;
    if (run.kind === 'charge') {
      if (c > 0) run.code = [0x20, ...P, 0x42, ...s64(BigInt(c)), 0x7c, 0x21, ...P];
    } else if (run.kind === 'check') run.code = [...flush(Math.max(1, c)), ...check];
    else
      run.code = [
        0x23,
        ...u32(fuel),
        0x42,
        ...s64(BigInt(Math.max(1, c))),
        0x7d,
        0x24,
        ...u32(fuel),
        ...check,
      ];
    if (run.code.length) counts.charges++;
  };
  /** Ends the run before the instruction at r.pos and starts `kind` after it. */
  const startRun = (kind: Slot['kind']): void => {
    cut(r.pos);
    run = { kind, cost: 0, code: [] };
    out.push(run);
  };
  /** Inserts `code` before the instruction that starts at `at`. */
  const before = (at: number, code: readonly number[]): void => {
    cut(at);
    put(code);
  };
  const frames: Frame[] = [{ kind: 'func', targeted: false }];
  const target = (label: number): void => {
    const f = frames[frames.length - 1 - label];
    if (!f) throw r.fail(`a branch to label ${label}, which is not there`);
    f.targeted = true;
  };
  const func = (at: number, op: number): void => {
    const f = r.u32();
    if (f >= ctx.shiftFrom) {
      cut(at);
      put([op, ...u32(f + ctx.shift)]);
      from = r.pos;
    }
  };
  /** Charges a bulk operation's size (of `type`), before the operation at `at`. */
  const sized = (at: number, type: number): void => {
    const t = u32(temp(type));
    const n =
      type === I64 ? [0x20, ...t, 0x42, ...CAP, 0x20, ...t, 0x42, ...CAP, 0x58, 0x1b] : [0x20, ...t, 0xad];
    before(at, [0x21, ...t, 0x23, ...u32(fuel), ...n, 0x7d, 0x24, ...u32(fuel), ...check, 0x20, ...t]);
    counts.bulkOps++;
  };
  /** Leaves the function (or may: a throw): the pending fuel goes to the global first. */
  const leaving = (at: number): void => {
    run.cost++;
    endRun();
    before(at, flush(0));
  };

  for (;;) {
    const at = r.pos;
    const op = r.u8();
    switch (op) {
      case 0x02: // block
      case 0x06: // try
        r.blockType();
        run.cost++;
        frames.push({ kind: op === 0x02 ? 'block' : 'try', targeted: false });
        continue;
      case 0x03: // loop
        r.blockType();
        run.cost++;
        endRun();
        frames.push({ kind: 'loop', targeted: false });
        counts.loops++;
        startRun('check');
        continue;
      case 0x04: // if
        r.blockType();
        run.cost++;
        endRun();
        frames.push({ kind: 'if', targeted: false });
        startRun('charge');
        continue;
      case 0x05: // else
      case 0x19: // catch_all
        endRun();
        startRun('charge');
        continue;
      case 0x07: // catch
        r.u32();
        endRun();
        startRun('charge');
        continue;
      case 0x18: // delegate: ends the try
        r.u32();
        frames.pop();
        endRun();
        startRun('charge');
        continue;
      case 0x1f: {
        // try_table: its catch clauses branch to labels outside it
        r.blockType();
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const kind = r.u8();
          if (kind <= 1) r.u32();
          else if (kind > 3) throw r.fail(`a try_table catch of kind ${kind}`);
          target(r.u32());
        }
        run.cost++;
        frames.push({ kind: 'try', targeted: false });
        continue;
      }
      case 0x0b: {
        const f = frames.pop()!;
        if (f.kind === 'func') {
          endRun();
          cut(r.pos); // this end closes the wrapper block
          put([...flush(0), 0x0b]);
          from = r.pos;
          if (r.pos !== end) throw r.fail('code after the end of a function body');
          return [
            Uint8Array.from([...u32(groups + added.length)]),
            bytes.subarray(declsFrom, declsTo),
            ...declarations(added),
            ...filled(out),
          ];
        }
        if (f.kind === 'loop' || (f.kind === 'block' && !f.targeted)) continue;
        endRun();
        startRun('charge');
        continue;
      }
      case 0x0c: // br
      case 0x0d: // br_if
      case 0xd5: // br_on_null
      case 0xd6: // br_on_non_null
        target(r.u32());
        run.cost++;
        endRun();
        startRun('charge');
        continue;
      case 0x0e: {
        // br_table
        const n = r.u32();
        for (let i = 0; i <= n; i++) target(r.u32());
        run.cost++;
        endRun();
        startRun('charge');
        continue;
      }
      case 0x0f: // return
      case 0x08: // throw
      case 0x09: // rethrow
      case 0x0a: // throw_ref
        if (op === 0x08 || op === 0x09) r.u32();
        leaving(at);
        startRun('charge');
        continue;
      case 0x12: // return_call
        leaving(at);
        func(at, op);
        startRun('charge');
        continue;
      case 0x13: // return_call_indirect
      case 0x15: // return_call_ref
        r.u32();
        if (op === 0x13) r.u32();
        leaving(at);
        startRun('charge');
        continue;
      case 0x10: // call
      case 0xd2: // ref.func
        func(at, op);
        run.cost++;
        continue;
      case 0x11: // call_indirect
        r.u32();
        r.u32();
        run.cost++;
        continue;
      case 0x14: // call_ref
        r.u32();
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
        if (bulk) sized(at, bulk.size === 'memory' && ctx.memory64 ? I64 : I32);
        run.cost++;
        continue;
      }
      case 0xfb: {
        const sub = r.u32();
        run.cost++;
        if (sub === 24 || sub === 25) {
          // br_on_cast, br_on_cast_fail: flags, label, two heap types
          r.u8();
          target(r.u32());
          r.s33();
          r.s33();
          endRun();
          startRun('charge');
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

/** The added locals' declarations: one group each. */
function declarations(types: readonly number[]): Uint8Array[] {
  return types.map((t) => Uint8Array.of(1, t));
}

/** The runs, with each charge's code in place. */
function filled(out: readonly (Uint8Array | Slot)[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (const p of out) {
    if (p instanceof Uint8Array) parts.push(p);
    else if (p.code.length) parts.push(Uint8Array.from(p.code));
  }
  return parts;
}
