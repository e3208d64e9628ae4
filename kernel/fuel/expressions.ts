/**
 * The binaryen.js expression API the fuel pass walks with: the expression-class helpers
 * binaryen.js has at run time but its .d.ts leaves out, the children of every plain expression
 * in evaluation order, and the leaves.
 */
import binaryen from 'binaryen';

export type Expr = binaryen.ExpressionRef;
type Get = (e: Expr) => Expr;
type Num = (e: Expr) => number;
type At = (e: Expr, i: number) => Expr;
type Ops = { getNumOperands: Num; getOperandAt: At };
type Sized = { getSize: Get; setSize(e: Expr, size: Expr): void };

/**
 * The expression-class helpers binaryen.js has at run time but its .d.ts leaves out, typed for
 * the calls this walk makes.
 */
interface ExpressionClasses {
  Block: {
    getNumChildren: Num;
    getChildAt: At;
    insertChildAt(e: Expr, i: number, c: Expr): void;
    getName(e: Expr): string | null;
  };
  Loop: { getBody: Get; setBody(e: Expr, b: Expr): void; getName(e: Expr): string | null };
  If: {
    getCondition: Get;
    getIfTrue: Get;
    getIfFalse: Get;
    setIfTrue(e: Expr, b: Expr): void;
    setIfFalse(e: Expr, b: Expr): void;
  };
  Try: { getBody: Get; getNumCatchBodies: Num; getCatchBodyAt: At; getName(e: Expr): string | null };
  MemoryGrow: { getDelta: Get; setDelta(e: Expr, d: Expr): void };
  MemoryFill: Sized;
  MemoryCopy: Sized;
  MemoryInit: Sized;
  TableGrow: { getDelta: Get; setDelta(e: Expr, d: Expr): void };
  Break: { getName(e: Expr): string; getValue: Get; getCondition: Get };
  Return: { getValue: Get; setValue(e: Expr, v: Expr): void };
  Switch: { getNames(e: Expr): string[]; getDefaultName(e: Expr): string; getValue: Get; getCondition: Get };
  BrOn: { getName(e: Expr): string; getRef: Get };
  Call: Ops & { isReturn(e: Expr): boolean };
  CallIndirect: Ops & { isReturn(e: Expr): boolean; getTarget: Get };
  CallRef: Ops & { isReturn(e: Expr): boolean; getTarget: Get };
  Throw: Ops;
  TupleMake: Ops;
}

export const B = binaryen as typeof binaryen & ExpressionClasses;

/** A plain child getter, `cls.getField`, looked up at run time. */
function get(cls: string, field: string): Get {
  const f = (binaryen as unknown as Record<string, Record<string, Get> | undefined>)[cls]?.[`get${field}`];
  if (!f) throw new Error(`binaryen.js has no ${cls}.get${field}`);
  return f;
}

const list =
  (num: (e: Expr) => number, at: (e: Expr, i: number) => Expr) =>
  (e: Expr): Expr[] => {
    const out: Expr[] = [];
    for (let i = 0, n = num(e); i < n; i++) out.push(at(e, i));
    return out;
  };

/** Children of the plain (non-control) expressions, in evaluation order. */
export function childGetters(): Map<number, (e: Expr) => Expr[]> {
  const one =
    (...gs: ((e: Expr) => Expr)[]) =>
    (e: Expr): Expr[] =>
      gs.map((g) => g(e)).filter((c) => c !== 0);
  const ops = (C: { getNumOperands(e: Expr): number; getOperandAt(e: Expr, i: number): Expr }) =>
    list(C.getNumOperands, C.getOperandAt);
  const t: [number, (e: Expr) => Expr[]][] = [
    [B.CallId, ops(B.Call)],
    [B.CallIndirectId, (e) => [...ops(B.CallIndirect)(e), B.CallIndirect.getTarget(e)]],
    [B.CallRefId, (e) => [...ops(B.CallRef)(e), B.CallRef.getTarget(e)]],
    [B.LocalSetId, one(get('LocalSet', 'Value'))],
    [B.GlobalSetId, one(get('GlobalSet', 'Value'))],
    [B.LoadId, one(get('Load', 'Ptr'))],
    [B.StoreId, one(get('Store', 'Ptr'), get('Store', 'Value'))],
    [B.UnaryId, one(get('Unary', 'Value'))],
    [B.BinaryId, one(get('Binary', 'Left'), get('Binary', 'Right'))],
    [B.SelectId, one(get('Select', 'IfTrue'), get('Select', 'IfFalse'), get('Select', 'Condition'))],
    [B.DropId, one(get('Drop', 'Value'))],
    [B.ReturnId, one(get('Return', 'Value'))],
    [B.BreakId, one(get('Break', 'Value'), get('Break', 'Condition'))],
    [B.SwitchId, one(get('Switch', 'Value'), get('Switch', 'Condition'))],
    [B.BrOnId, one(get('BrOn', 'Ref'))],
    [B.ThrowId, ops(B.Throw)],
    [B.AtomicRMWId, one(get('AtomicRMW', 'Ptr'), get('AtomicRMW', 'Value'))],
    [
      B.AtomicCmpxchgId,
      one(get('AtomicCmpxchg', 'Ptr'), get('AtomicCmpxchg', 'Expected'), get('AtomicCmpxchg', 'Replacement')),
    ],
    [
      B.AtomicWaitId,
      one(get('AtomicWait', 'Ptr'), get('AtomicWait', 'Expected'), get('AtomicWait', 'Timeout')),
    ],
    [B.AtomicNotifyId, one(get('AtomicNotify', 'Ptr'), get('AtomicNotify', 'NotifyCount'))],
    [B.SIMDExtractId, one(get('SIMDExtract', 'Vec'))],
    [B.SIMDReplaceId, one(get('SIMDReplace', 'Vec'), get('SIMDReplace', 'Value'))],
    [B.SIMDShuffleId, one(get('SIMDShuffle', 'Left'), get('SIMDShuffle', 'Right'))],
    [B.SIMDTernaryId, one(get('SIMDTernary', 'A'), get('SIMDTernary', 'B'), get('SIMDTernary', 'C'))],
    [B.SIMDShiftId, one(get('SIMDShift', 'Vec'), get('SIMDShift', 'Shift'))],
    [B.SIMDLoadId, one(get('SIMDLoad', 'Ptr'))],
    [B.SIMDLoadStoreLaneId, one(get('SIMDLoadStoreLane', 'Ptr'), get('SIMDLoadStoreLane', 'Vec'))],
    [B.MemoryInitId, one(get('MemoryInit', 'Dest'), get('MemoryInit', 'Offset'), get('MemoryInit', 'Size'))],
    [B.MemoryCopyId, one(get('MemoryCopy', 'Dest'), get('MemoryCopy', 'Source'), get('MemoryCopy', 'Size'))],
    [B.MemoryFillId, one(get('MemoryFill', 'Dest'), get('MemoryFill', 'Value'), get('MemoryFill', 'Size'))],
    [B.TableGetId, one(get('TableGet', 'Index'))],
    [B.TableSetId, one(get('TableSet', 'Index'), get('TableSet', 'Value'))],
    [B.TableGrowId, one(get('TableGrow', 'Value'), get('TableGrow', 'Delta'))],
    [B.RefIsNullId, one(get('RefIsNull', 'Value'))],
    [B.RefAsId, one(get('RefAs', 'Value'))],
    [B.RefEqId, one(get('RefEq', 'Left'), get('RefEq', 'Right'))],
    [B.RefTestId, one(get('RefTest', 'Ref'))],
    [B.RefCastId, one(get('RefCast', 'Ref'))],
    [B.RefI31Id, one(get('RefI31', 'Value'))],
    [B.I31GetId, one(get('I31Get', 'I31'))],
    [B.TupleMakeId, ops(B.TupleMake)],
    [B.TupleExtractId, one(get('TupleExtract', 'Tuple'))],
  ];
  return new Map(t);
}

export const LEAVES = new Set([
  B.NopId,
  B.UnreachableId,
  B.PopId,
  B.ConstId,
  B.LocalGetId,
  B.GlobalGetId,
  B.MemorySizeId,
  B.TableSizeId,
  B.RefNullId,
  B.RefFuncId,
  B.DataDropId,
  B.AtomicFenceId,
  B.RethrowId,
]);

/**
 * The size operand of each bulk operation, which the walk charges. `table.fill`, `table.copy`
 * and `table.init` are missing: binaryen.js 132 has no accessors for their operands, so the pass
 * cannot charge them and refuses them (as expressions it cannot meter).
 */
export function sizeOperands(): Map<number, { get: Get; set(e: Expr, size: Expr): void }> {
  return new Map([
    [B.MemoryFillId, { get: B.MemoryFill.getSize, set: B.MemoryFill.setSize }],
    [B.MemoryCopyId, { get: B.MemoryCopy.getSize, set: B.MemoryCopy.setSize }],
    [B.MemoryInitId, { get: B.MemoryInit.getSize, set: B.MemoryInit.setSize }],
    [B.TableGrowId, { get: B.TableGrow.getDelta, set: B.TableGrow.setDelta }],
  ]);
}

/** Expression ids binaryen.js knows only through its C API, for error messages. */
const C_ONLY = ['TableFill', 'TableCopy', 'TableInit', 'ElemDrop'];

/** The name of an expression id, for error messages. */
export function idName(id: number): string {
  for (const [k, v] of Object.entries(B)) if (k.endsWith('Id') && v === id) return k.slice(0, -2);
  const c = binaryen as unknown as Record<string, (() => number) | undefined>;
  for (const name of C_ONLY) if (c[`_Binaryen${name}Id`]?.() === id) return name;
  return `expression id ${id}`;
}
