/**
 * What the kernel and its workers say to each other (piscina task data and results).
 * Plain structured-cloneable values only.
 */

import type { MessagePort } from 'node:worker_threads';
import type { AddressSpace } from '../base/address-space.js';
import type { StoredMessage } from '../store/message.js';

/** What one call into the instance may use (see worker/meter.ts). */
export interface WireBudget {
  fuel: number;
  kind: 'invocation' | 'window' | 'lifetime';
  tick: number;
  /** Fuel a call runs before it yields to waiting work of its class. */
  slice: number;
  /** Wall-clock limit from the start of the call, or null. */
  deadlineMs: number | null;
}

interface Base {
  agent: string;
  /** The instance generation the kernel means; a worker holding another one reports `missing`. */
  generation: number;
  /** Limits for this call (for a load: for init). */
  budget: WireBudget;
}

/**
 * The one piscina task a worker runs, for its whole life: it serves the tasks below from its
 * command channel, and calls the kernel over its hostcall channel. Compiled modules, which a
 * shared buffer cannot carry, come over `port`.
 */
export interface ServeTask {
  op: 'serve';
  channel: SharedArrayBuffer;
  commands: SharedArrayBuffer;
  port: MessagePort;
  /** This worker's park channel, and the pool-wide count of work waiting for a permit. */
  park: SharedArrayBuffer;
  wanted: SharedArrayBuffer;
  /** Where the worker posts the calls it answered itself (bridge/post-ring.ts). */
  posts: SharedArrayBuffer;
  /** The largest result one call may return (the kernel's `maxResultBytes`). */
  maxResultBytes: number;
  /** The process-wide count of wasm memories alive, and how many fit (base/address-space.ts). */
  memories: SharedArrayBuffer;
  /** This worker's cell in it (the kernel zeroes the cell when the worker is gone). */
  memoryCell: number;
  space: AddressSpace;
  /** Spare instances the worker keeps per component it started lately (0: none; worker/spares.ts). */
  spares: number;
}

/** Spare instances each worker keeps per component it started lately, by default (worker/spares.ts). */
export const DEFAULT_SPARES = 1;

/** The kernel's default `maxResultBytes`: 16 MiB. */
export const DEFAULT_MAX_RESULT_BYTES = 16 << 20;

/** The most `maxResultBytes` may be: a command's result must fit the channel's 1 GiB transfer. */
export const MAX_RESULT_BYTES = 256 << 20;

/**
 * The most a command's whole result may take on the command channel, both ends agree on it: a
 * batch stops once its results reach `maxResultBytes`, so with the one that took it there and
 * the framing of up to 1,024 results it stays under twice that plus 1 MiB.
 */
export function commandResultBytes(maxResultBytes: number): number {
  return 2 * maxResultBytes + (1 << 20);
}

/**
 * How a component built by `agentos build` reports an exception that escaped an export without
 * trapping: init, handle and invoke return `err({ tag: 'invalid', val: CRASH_MARKER + json })`,
 * describe returns one descriptor named CRASH_MARKER with that same text as its description.
 * The JSON is a CrashReport. The worker turns either into a crash (the instance is discarded,
 * as for a trap). A guest that forges one only crashes itself, which it could do anyway.
 */
export const CRASH_MARKER = '\u0000agentos:uncaught\u0000';

/** What the export wrapper says about a thrown value. */
export interface CrashReport {
  /** `Error`, `TypeError`, ... for an Error; `string`, `object`, ... for any other value. */
  name: string;
  message: string;
  /** `e.stack` as SpiderMonkey gives it (`fn@file:line:column` lines, cut at the wrapper), for an Error. */
  stack?: string;
  /** Which export it escaped from. */
  export: string;
}

/** Compiled core modules for a digest, posted on the worker's port before the load that needs them. */
export interface ModulesMessage {
  digest: string;
  modules: Record<string, WebAssembly.Module>;
}

/** What a worker needs to build the import object: glue key → JS function name → hostcall id. */
export type ImportPlan = Record<string, Record<string, number>>;

export interface LoadTask extends Base {
  op: 'load';
  world: 'agent' | 'skill';
  digest: string;
  glueUrl: string;
  /** Sent (over the port) when the kernel does not know the worker holds this digest's modules. */
  modules?: Record<string, WebAssembly.Module>;
  /** Set by the pool when it moved `modules` to the port. */
  modulesOnPort?: boolean;
  imports: ImportPlan;
  /** Glue key → the URL of the module answering that interface's posted calls in the worker. */
  workerModules: Record<string, string>;
  config: string;
  /** Linear memory cap for the instance. */
  memoryBytes: number;
  /** Start from this state (worker/snapshot.ts) instead of running init. */
  snapshot?: Uint8Array;
}

export interface HandleTask extends Base {
  op: 'handle';
  message: StoredMessage;
}

/** Several messages for `handle`, run in order until one crashes (the rest are not run). */
export interface HandleBatchTask extends Base {
  op: 'handleBatch';
  messages: StoredMessage[];
}

export interface InvokeTask extends Base {
  op: 'invoke';
  tool: string;
  args: string;
}

export interface DescribeTask extends Base {
  op: 'describe';
}

/** The state of the agent's idle instance (worker/snapshot.ts); the result's `value` holds it. */
export interface SnapshotTask extends Base {
  op: 'snapshot';
}

export interface UnloadTask {
  op: 'unload';
  budget?: undefined;
  agents: string[];
}

export type Task =
  | LoadTask
  | HandleTask
  | HandleBatchTask
  | InvokeTask
  | DescribeTask
  | SnapshotTask
  | UnloadTask;

/** A WIT `error` value as jco lifts it. */
export interface ErrorValue {
  tag: string;
  val: string;
}

/** A limit the kernel enforces inside the instance, when that is what ended it. */
export type LimitCode =
  | 'AOS_E_FUEL_EXHAUSTED'
  | 'AOS_E_MEMORY_LIMIT'
  | 'AOS_E_DEADLINE'
  | 'AOS_E_STACK_OVERFLOW'
  | 'AOS_E_RESULT_TOO_LARGE'
  /** The process's room for wasm memories (base/address-space.ts): the instance never started. */
  | 'AOS_E_CAPACITY'
  /** Not a limit: a value of the wrong type or malformed JSON. */
  | 'AOS_E_BAD_RESULT';

/** What a call into the instance used: fuel units and its linear memory afterwards, in bytes. */
interface Usage {
  us: number;
  thread: number;
  fuel: number;
  memory: number;
  /** A load: the instance was a spare (worker/spares.ts), instantiated before it was asked for. */
  spare?: boolean;
}

export type TaskResult =
  /** `value`: JSON text (handle, invoke), descriptor list (describe) or null (load, unload). */
  | ({ kind: 'ok'; value: unknown } & Usage)
  /** The guest returned `err(error)`; the instance lives on. */
  | ({ kind: 'error'; error: ErrorValue } & Usage)
  /** The guest trapped, threw, returned a malformed value or hit a limit; the instance is gone. */
  | ({ kind: 'crash'; message: string; code?: LimitCode; details?: Record<string, unknown> } & Usage)
  /** This worker holds no instance of that generation (or lacks the modules). */
  | { kind: 'missing'; needModules: boolean; thread: number };

/** What a `handleBatch` task returns: one result per message run, in order (or `missing`). */
export type BatchResult =
  | { kind: 'batch'; results: Exclude<TaskResult, { kind: 'missing' }>[]; thread: number }
  | Extract<TaskResult, { kind: 'missing' }>;
