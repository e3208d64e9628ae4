/**
 * The fuel pass's walk over binaryen IR: computes each basic block's instruction count and
 * inserts its charge where the block starts.
 *
 * A basic block here is a run of IR nodes that always execute together once the first does.
 * New blocks start at a function entry, a loop header (checked there), each arm of an `if`, and
 * after any child of a `block` that may branch out of the sequence (`br`, `br_if`, `br_table`,
 * `br_on_*`, `return`, `throw`, a tail call). A branch that lands inside the child itself does
 * not split the sequence: its target's end is where the sequence continues anyway.
 * Charges count nodes, not bytes, so they do not depend on how the module was encoded.
 *
 * Block charges go to a local of the function (a register), not to the global counter: the
 * local is flushed into the global at loop headers (then checked), at `return` and at the end
 * of the body. Function entries charge the global directly and check it. Calls need no flush:
 * the callee charges the global itself. The total is exact; only a trap or a thrown exception
 * leaves the pending fuel of the frames it unwinds uncounted (the instance is discarded then).
 *
 * A bulk operation (`memory.fill`, `memory.copy`, `memory.init`, `table.grow`) is one node but
 * its time grows with its size, so its size is charged too, one unit per byte (or element), to
 * the global, and checked, after its operands are evaluated and before it runs. One unit per
 * byte, measured on Node 20 (V8 11.3): compiled code runs ~0.15-0.2 ns per unit (tiered up;
 * ~0.9 ns in the baseline tier), fill and copy take ~0.04-0.06 ns per byte within the caches
 * and ~0.1-0.2 ns per byte beyond them (32 MiB), so a byte costs at most about one unit's time.
 * One unit per 8 bytes would let a loop of 64 MiB fills run ~10x longer per unit than compute
 * does. Each op also costs V8 ~10-25 ns of call overhead, which is not charged.
 */
import binaryen from 'binaryen';
import { AgentOSError } from '../base/errors.js';
import { B, childGetters, type Expr, idName, LEAVES, sizeOperands } from './expressions.js';

/** Branch targets a subtree may leave to; RETURN stands for leaving the function. */
type Exits = readonly string[] | null;
const RETURN = '\u0000return';

export interface Walked {
  /** Nodes charged to the enclosing basic block. */
  cost: number;
  exits: Exits;
}

export interface Walker {
  walk(e: Expr): Walked;
  /** `fuel -= pending + cost; pending = 0; if (fuel < 0) out_of_fuel()` */
  check(cost: number): Expr;
  /** The metered body of function `f`. */
  meter(f: binaryen.FunctionRef, body: Expr): Expr;
  counts: { loops: number; charges: number; memoryGrows: number; bulkOps: number };
}

function join(a: Exits, b: Exits): Exits {
  if (!a) return b;
  if (!b) return a;
  const out = [...a];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}

function without(a: Exits, name: string | null | undefined): Exits {
  if (!a || !name || !a.includes(name)) return a;
  const out = a.filter((x) => x !== name);
  return out.length ? out : null;
}

const addVar = (binaryen as unknown as { _BinaryenFunctionAddVar(f: number, t: number): number })
  ._BinaryenFunctionAddVar;

export function walkerFor(m: binaryen.Module, what: string): Walker {
  const children = childGetters();
  const sizes = sizeOperands();
  const getId = B.getExpressionId;
  const counts = { loops: 0, charges: 0, memoryGrows: 0, bulkOps: 0 };
  const i64 = (n: number | bigint): Expr => m.i64.const(BigInt(n) as unknown as number);
  const fuel = (): Expr => m.global.get('__agentos_fuel', B.i64);
  /** The function being rewritten: its pending-fuel local and its value temporaries by type. */
  let fn = 0;
  let pending = -1;
  let temps = new Map<number, number>();
  const enter = (f: binaryen.FunctionRef): void => {
    fn = f as unknown as number;
    pending = addVar(fn, B.i64);
    temps = new Map();
  };
  const temp = (type: number): number => {
    let t = temps.get(type);
    if (t === undefined) {
      t = addVar(fn, type);
      temps.set(type, t);
    }
    return t;
  };
  /** Block charges add to the function's pending local: a register, not a global. */
  const charge = (cost: number): Expr => {
    counts.charges++;
    return m.local.set(pending, m.i64.add(m.local.get(pending, B.i64), i64(cost)));
  };
  /** `fuel -= pending + cost; pending = 0` */
  const flush = (cost = 0): Expr[] => [
    m.global.set(
      '__agentos_fuel',
      m.i64.sub(
        fuel(),
        cost ? m.i64.add(m.local.get(pending, B.i64), i64(cost)) : m.local.get(pending, B.i64),
      ),
    ),
    m.local.set(pending, i64(0)),
  ];
  const outOfFuel = (): Expr => m.if(m.i64.lt_s(fuel(), i64(0)), m.call('__agentos_out_of_fuel', [], B.none));
  /** Loop headers: charge, flush the pending fuel, check. */
  const check = (cost: number): Expr => {
    counts.charges++;
    return m.block(null, [...flush(cost), outOfFuel()]);
  };
  /** Function entries: nothing is pending yet. */
  const entry = (cost: number): Expr => {
    counts.charges++;
    return m.block(null, [m.global.set('__agentos_fuel', m.i64.sub(fuel(), i64(cost))), outOfFuel()]);
  };
  /** `e`, then the pending fuel flushed, keeping `e`'s value. */
  const flushedAfter = (e: Expr): Expr => {
    const type = B.getExpressionType(e);
    if (type === B.unreachable) return e;
    if (type === B.none) return m.block(null, [e, ...flush()], B.none);
    const t = temp(type);
    return m.block(null, [m.local.set(t, e), ...flush(), m.local.get(t, type)], type);
  };
  const isVoidReturn = (e: Expr): boolean => getId(e) === B.ReturnId && !B.Return.getValue(e);
  /** `e`, with the pending fuel flushed first when `e` is a `return` without a value. */
  const voidReturn = (e: Expr): Expr => (isVoidReturn(e) ? m.block(null, [...flush(), e], B.auto) : e);
  /**
   * A bulk operation's size operand, charged: `t = size; fuel -= t; if (fuel < 0) out_of_fuel();
   * t`. The size is the last operand, so the check comes after all of them and before the
   * operation. A memory64 size is charged at most 2^62, so the counter cannot wrap around.
   */
  const sized = (size: Expr): Expr => {
    const type = B.getExpressionType(size);
    if (type === B.unreachable) return size;
    const t = temp(type);
    const cap = (): Expr => i64(1n << 62n);
    const n =
      type === B.i64
        ? m.select(m.i64.gt_u(m.local.get(t, B.i64), cap()), cap(), m.local.get(t, B.i64))
        : m.i64.extend_u(m.local.get(t, B.i32));
    counts.bulkOps++;
    return m.block(
      null,
      [
        m.local.set(t, size),
        m.global.set('__agentos_fuel', m.i64.sub(fuel(), n)),
        outOfFuel(),
        m.local.get(t, type),
      ],
      type,
    );
  };
  /** Wraps `e` so `cost` is charged before it runs. */
  const charged = (e: Expr, cost: number): Expr => (cost > 0 ? m.block(null, [charge(cost), e], B.auto) : e);

  function block(e: Expr): Walked {
    const n = B.Block.getNumChildren(e);
    let cost = 1;
    let exits: Exits = null;
    const tails: { at: number; cost: number }[] = [];
    const returns: number[] = [];
    let tail: { at: number; cost: number } | null = null;
    for (let i = 0; i < n; i++) {
      const child = B.Block.getChildAt(e, i);
      if (isVoidReturn(child)) returns.push(i);
      const r = walk(child);
      if (tail) tail.cost += r.cost;
      else cost += r.cost;
      if (r.exits && i < n - 1) {
        tail = { at: i + 1, cost: 0 };
        tails.push(tail);
      }
      exits = join(exits, r.exits);
    }
    // Insert from the end so earlier indices stay valid; at one index the flush goes after the
    // charge, so the charge is flushed too.
    const inserts = [
      ...tails.filter((t) => t.cost > 0).map((t) => ({ at: t.at, order: 0, expr: () => charge(t.cost) })),
      ...returns.map((at) => ({ at, order: 1, expr: () => m.block(null, flush(), B.none) })),
    ].sort((a, b) => b.at - a.at || b.order - a.order);
    for (const x of inserts) B.Block.insertChildAt(e, x.at, x.expr());
    return { cost, exits: without(exits, B.Block.getName(e)) };
  }

  function walk(e: Expr): Walked {
    const id = getId(e);
    if (LEAVES.has(id)) return { cost: 1, exits: id === B.RethrowId ? [RETURN] : null };
    switch (id) {
      case B.BlockId:
        return block(e);
      case B.LoopId: {
        counts.loops++;
        const body = B.Loop.getBody(e);
        const r = walk(body);
        B.Loop.setBody(e, m.block(null, [check(Math.max(1, r.cost)), voidReturn(body)], B.auto));
        return { cost: 1, exits: without(r.exits, B.Loop.getName(e)) };
      }
      case B.IfId: {
        const c = walk(B.If.getCondition(e));
        let exits = c.exits;
        const yes = B.If.getIfTrue(e);
        const t = walk(yes);
        B.If.setIfTrue(e, charged(voidReturn(yes), t.cost));
        exits = join(exits, t.exits);
        const no = B.If.getIfFalse(e);
        if (no) {
          const f = walk(no);
          B.If.setIfFalse(e, charged(voidReturn(no), f.cost));
          exits = join(exits, f.exits);
        }
        return { cost: 1 + c.cost, exits };
      }
      case B.TryId: {
        // Catch bodies start with a `pop` that must stay first, so they are charged with the
        // try itself: an overcharge only when nothing is thrown, and still deterministic.
        let r = walk(B.Try.getBody(e));
        let cost = 1 + r.cost;
        let exits = r.exits;
        for (let i = 0; i < B.Try.getNumCatchBodies(e); i++) {
          r = walk(B.Try.getCatchBodyAt(e, i));
          cost += r.cost;
          exits = join(exits, r.exits);
        }
        return { cost, exits: without(exits, B.Try.getName(e)) };
      }
      case B.AtomicWaitId:
        // It blocks its thread without using fuel (an infinite timeout: for good), and an agent
        // has no other thread to wake it: no budget or tick could end it.
        throw new AgentOSError(
          'AOS_E_FUEL_UNSUPPORTED',
          `${what}: memory.atomic.wait blocks without using fuel, and nothing could wake it; it cannot run metered`,
          { expression: idName(id) },
        );
      case B.MemoryGrowId: {
        const delta = B.MemoryGrow.getDelta(e);
        const r = walk(delta);
        counts.memoryGrows++;
        B.MemoryGrow.setDelta(e, m.call('__agentos_grow_check', [delta], B.getExpressionType(delta)));
        return { cost: 1 + r.cost, exits: r.exits };
      }
    }
    const get = children.get(id);
    if (!get) {
      throw new AgentOSError(
        'AOS_E_FUEL_UNSUPPORTED',
        `${what}: the fuel pass cannot meter a ${idName(id)} expression`,
        { expression: idName(id) },
      );
    }
    let cost = 1;
    let exits: Exits = null;
    for (const c of get(e)) {
      const r = walk(c);
      cost += r.cost;
      exits = join(exits, r.exits);
    }
    const size = sizes.get(id);
    if (size) size.set(e, sized(size.get(e)));
    if (id === B.ReturnId) {
      // Leaving the function: the pending fuel goes to the global first.
      const value = B.Return.getValue(e);
      // A void return takes no value: its parent puts the flush before it (voidReturn).
      if (value) B.Return.setValue(e, flushedAfter(value));
    }
    if (id === B.BreakId) exits = join(exits, [B.Break.getName(e)!]);
    else if (id === B.SwitchId) exits = join(exits, [...B.Switch.getNames(e), B.Switch.getDefaultName(e)!]);
    else if (id === B.BrOnId) exits = join(exits, [B.BrOn.getName(e)]);
    else if (id === B.ReturnId || id === B.ThrowId) exits = join(exits, [RETURN]);
    else if (id === B.CallId && B.Call.isReturn(e)) exits = join(exits, [RETURN]);
    else if (id === B.CallIndirectId && B.CallIndirect.isReturn(e)) exits = join(exits, [RETURN]);
    else if (id === B.CallRefId && B.CallRef.isReturn(e)) exits = join(exits, [RETURN]);
    return { cost, exits };
  }

  /** Rewrites one function body: entry check, metered body, pending fuel flushed at the end. */
  function meter(f: binaryen.FunctionRef, body: Expr): Expr {
    enter(f);
    const cost = walk(body).cost;
    return m.block(null, [entry(Math.max(1, cost)), flushedAfter(voidReturn(body))], B.auto);
  }

  return { walk, check, meter, counts };
}
