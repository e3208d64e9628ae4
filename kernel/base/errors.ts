/**
 * Every kernel error code, in one place. Each code is documented in docs/errors.md (a test
 * checks it). Guest-visible failures are WIT `error` variants instead (see `GuestError`).
 *
 * @example
 * try { await kernel.send(id, { text: 'hi' }); }
 * catch (e) { if (e instanceof AgentOSError && e.code === 'AOS_E_AGENT_CRASHED') restartLater(); }
 */

/** What each code means and what to do about it. */
export const ERROR_CODES = {
  AOS_E_NOT_WASM: 'The bytes are not WebAssembly. Pass a .wasm component built by `agentos build`.',
  AOS_E_TRUNCATED: 'The WebAssembly file ends early. Rebuild or re-download it.',
  AOS_E_NOT_COMPONENT:
    'This is a core WebAssembly module, not a component. Wrap it with `jco new` or build it with `agentos build`.',
  AOS_E_MALFORMED_COMPONENT: 'The component does not parse. Rebuild it with a supported toolchain.',
  AOS_E_UNKNOWN_IMPORT:
    'The component imports an interface the kernel does not offer. Components may import only agentos:kernel/*@0.1.0.',
  AOS_E_CAPABILITY_UNAVAILABLE:
    'The component imports a kernel interface this kernel version does not provide yet.',
  AOS_E_IMPORT_NOT_GRANTED:
    'The component imports a capability it was not granted. Grant it, or rebuild without it.',
  AOS_E_BAD_EXPORTS:
    "The component's exports fit neither the agent world nor the skill world, by name and by type. Build it against this kernel's wit/.",
  AOS_E_UNKNOWN_CAPABILITY: 'A grant names no capability of this kernel.',
  AOS_E_COMPONENT_NOT_FOUND: 'No component file at that path.',
  AOS_E_AGENT_NOT_FOUND: 'No agent with that id in this data dir.',
  AOS_E_AGENT_CRASHED:
    'The agent trapped or returned a malformed value; its instance was discarded. The next message restarts it unless its restart policy is `never`.',
  AOS_E_AGENT_ERROR: 'The agent handled the message and returned an error.',
  AOS_E_AGENT_TERMINATED: 'The agent is terminated and takes no more messages.',
  AOS_E_AGENT_EXPORTED:
    'The agent was exported to a bundle and runs where that bundle is imported; this kernel no longer runs it.',
  AOS_E_AGENT_EXISTS:
    'This data dir already has an agent with that id (the bundle was imported here before, or the agent was never moved away).',
  AOS_E_BAD_STATE: 'The agent is not in a state that allows this operation.',
  AOS_E_BAD_MESSAGE:
    'The message is not valid: its body must be JSON that arrives as sent (no NaN, Infinity or lone surrogates, at most 1,000 levels deep) and its kind a non-empty string.',
  AOS_E_MESSAGE_TOO_LARGE: 'The message is larger than the kernel accepts.',
  AOS_E_BAD_CONFIG: 'The agent config or a kernel option is not valid.',
  AOS_E_INIT_FAILED: 'The agent returned an error from init(config); it was not started.',
  AOS_E_TIMED_OUT: 'No outcome arrived within the timeout the caller gave; the message stays queued.',
  AOS_E_WRONG_WORLD:
    'The operation does not fit this component world (messages go to agents, tool calls to skills).',
  AOS_E_KERNEL_CLOSED: 'The kernel is closed. Queued messages stay in their mailboxes for the next open.',
  AOS_E_DATA_DIR: 'The data dir cannot be used. Check the path and its permissions.',
  AOS_E_BUILD_FAILED: 'Building the component failed; the message says where.',
  AOS_E_BAD_SOURCE: 'The component source does not fit its world (missing export, unknown kernel import).',
  AOS_E_BAD_ARGUMENT: 'A command or API argument is not valid.',
  AOS_E_FUEL_UNSUPPORTED:
    'The fuel pass cannot meter this component (an instruction kind it does not know, or a module that fails validation once instrumented). It cannot run under the kernel.',
  AOS_E_RESERVED_NAME:
    'A core module of the component uses a name the fuel meter reserves (exports __agentos_* or __snap_*, imports from agentos:meter, functions or globals __agentos_*). Build it without them; never meter it yourself.',
  AOS_E_FUEL_EXHAUSTED:
    'The invocation used up a fuel budget (per invocation, per window or lifetime); its instance was discarded. Raise the budget in the spawn options, or find the loop.',
  AOS_E_MEMORY_LIMIT:
    'The instance tried to grow its linear memory past its cap; it was discarded. Raise `limits.memoryBytes`, or find the leak.',
  AOS_E_CAPACITY:
    'This process holds as many wasm memories as its address space allows; the instance was not started. Let idle agents go dormant (`dormantAfterMs`), run Node with --disable-wasm-trap-handler (about 2.5× as many), or spread agents over more kernel processes.',
  AOS_E_DEADLINE:
    'The invocation ran past its wall-clock deadline; its instance was discarded. Raise `limits.deadlineMs`.',
  AOS_E_BAD_RESULT:
    'An export returned a value of the wrong type or malformed JSON; the instance was discarded and the message dead-lettered (it would fail the same way again). Fix the component.',
  AOS_E_STACK_OVERFLOW:
    'The instance recursed deeper than the worker stack allows; it was discarded. Bound the recursion.',
  AOS_E_RESULT_TOO_LARGE:
    'The call returned more bytes than `maxResultBytes` allows; its instance was discarded and the message dead-lettered (it would be too large again). Return less (keep large data in memory services and return a key), or raise `maxResultBytes`.',
  AOS_E_DEAD_LETTER_NOT_FOUND: 'No dead letter with that agent and message id. List them with deadLetters().',
  AOS_E_EXPIRED: 'The message outlived its TTL in the mailbox and was dropped undelivered.',
  AOS_E_QUOTA_EXCEEDED: 'A quota was hit (mailbox length, hostcall rate); retry later.',
  AOS_E_UNSIGNED:
    'The component carries no signature, and the kernel requires one. Sign it (`agentos sign --key`), or open the kernel with `policy: { allowUnsigned: true }` for development.',
  AOS_E_SIGNATURE_CORRUPT:
    'The signature section is damaged (truncated, a bad length, trailing bytes) or not the first section. Sign the component again from its unsigned build.',
  AOS_E_SIGNATURE_UNSUPPORTED:
    'The signature uses a format version, hash or algorithm this kernel does not verify (it verifies version 1, SHA-256, Ed25519).',
  AOS_E_SIGNATURE_MISMATCH:
    'The component changed after it was signed: no signature covers its bytes as they are. Rebuild and sign it again; never edit a signed component.',
  AOS_E_SIGNATURE_FORGED:
    'A signature names a trusted key but does not verify with it: it was forged or damaged. Do not run this component.',
  AOS_E_UNTRUSTED_KEY:
    "No key in the trust store made any of the component's signatures. Trust the publisher's key (`agentos trust add`) if you mean to.",
  AOS_E_KEY_REVOKED:
    'The component is signed only by keys the trust store revoked. Get a build signed with a current key.',
  AOS_E_KEY_EXPIRED:
    'The component is signed only by trusted keys that have expired. Get a build signed with a current key, or renew the key in the trust store.',
  AOS_E_UNTRUSTED_PUBLISHER:
    "The signing key is trusted for another publisher than the one the component's manifest names.",
  AOS_E_BAD_MANIFEST:
    'The component manifest is missing, not valid JSON, or misses or mistypes a field; the message lists each problem. Fix agentos.json and rebuild.',
  AOS_E_IMPORT_NOT_REQUESTED:
    "The component imports a capability its manifest does not request. Add it to the manifest's capabilities and rebuild, or remove the import.",
  AOS_E_NOT_INSTALLED:
    'No installed component has that name, or none of its versions fits the range. `agentos install` it first.',
  AOS_E_ALREADY_INSTALLED:
    'That name and version is installed with other bytes. Publish a new version; reinstalling over it needs force.',
  AOS_E_REGISTRY:
    'The registry cannot be reached, refused the request, or answered with something that is not a wasm component artifact. The message says which.',
  AOS_E_DIGEST_MISMATCH:
    'What was downloaded does not match the digest its manifest names (cut off, or altered on the way): nothing was installed, pull again. Or a component kept in the data dir was changed on disk: an agent on it does not start.',
  AOS_E_REPLAY:
    'The agent cannot be replayed: its journal does not start at its spawn, or its recorded component is gone.',
  AOS_E_BAD_BUNDLE:
    'The file is not a usable recorded-run bundle: not one at all, another format version, cut short, changed (its checksum), or inconsistent (a component that does not match its digest). Nothing was replayed.',
  AOS_E_REPLAY_DIVERGED:
    'The replay did something the recorded run did not (another hostcall, other arguments, another outcome or fuel); the report names the first difference.',
  AOS_E_ALREADY_PUBLISHED: 'That version is already in the registry. Publish a new version, or force.',
  AOS_E_BAD_KEY:
    'A key file or key text is not an Ed25519 key in the expected form, or a key file is readable by others.',
  AOS_E_INTERNAL: 'An unexpected failure inside AgentOS. Report it with the stack trace printed beside it.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A coded kernel error for embedders and operators. `message` names the concrete problem. */
export class AgentOSError extends Error {
  override readonly name = 'AgentOSError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** What the code means in general and what to do; `message` says what happened this time. */
  get hint(): string {
    return ERROR_CODES[this.code];
  }

  /** `AOS_E_X: sentence` — the one-line form the CLI prints. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }

  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** One of several problems a refusal lists (`details.problems`). */
export interface Problem {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * One error for every problem found, so a caller fixes them all in one go: the first problem's
 * code (callers collect them most important first), a message listing each with its code, and
 * `details.problems`. A single problem keeps its own message and details.
 *
 * @example
 * throw refusal('echo.wasm', [notGranted, badScope]);
 * // AOS_E_IMPORT_NOT_GRANTED: echo.wasm is refused for 2 problems:
 * //   AOS_E_IMPORT_NOT_GRANTED: echo.wasm imports ...
 * //   AOS_E_BAD_CONFIG: grant "log:loud" for echo.wasm: log takes no scope
 */
export function refusal(what: string, problems: readonly AgentOSError[]): AgentOSError {
  const first = problems[0];
  if (!first) throw new AgentOSError('AOS_E_INTERNAL', `refusal of ${what} without a problem`);
  const list: Problem[] = problems.map((p) => ({ code: p.code, message: p.message }));
  if (problems.length === 1)
    return new AgentOSError(
      first.code,
      first.message,
      { ...first.details, problems: list },
      { cause: first },
    );
  const lines = list.map((p) => `\n  ${p.code}: ${p.message}`).join('');
  return new AgentOSError(first.code, `${what} is refused for ${list.length} problems:${lines}`, {
    problems: list,
  });
}

/** The WIT `error` variant's tags: the only failures a guest ever sees. */
export type GuestErrorTag =
  | 'not-found'
  | 'denied'
  | 'quota-exceeded'
  | 'timed-out'
  | 'unavailable'
  | 'invalid';

export const GUEST_ERROR_TAGS: readonly GuestErrorTag[] = [
  'not-found',
  'denied',
  'quota-exceeded',
  'timed-out',
  'unavailable',
  'invalid',
];

/**
 * Thrown by a capability's host function to return `err(error)` to the guest. The dispatcher
 * turns it into a value; it never reaches the guest as a trap.
 */
export class GuestError extends Error {
  override readonly name = 'GuestError';
  readonly tag: GuestErrorTag;

  constructor(tag: GuestErrorTag, message: string) {
    super(message);
    this.tag = tag;
  }
}
