// History vocabulary for linearizability checking (and the fault suite's other checkers).
//
// A history is a sequence of events, one object per line on disk (JSON Lines).
// Each operation is an `invoke` event followed, for the same process, by exactly
// one completion: `ok` (it happened), `fail` (it definitely did not happen) or
// `info` (unknown: it may take effect at any time after the invoke, or never).

export type EventType = 'invoke' | 'ok' | 'fail' | 'info';
export type OpFunction = 'read' | 'write' | 'cas' | 'create' | 'delete';
/** A register value, or (a read of a set) the list of its members. */
export type Value = string | number | null | readonly string[];

export interface HistoryEvent {
  /** Client id; a process has at most one operation outstanding. */
  process: number;
  type: EventType;
  f: OpFunction;
  key: string;
  /**
   * write: the value written; cas: the new value; read: null on invoke, the value read (null =
   * absent) on ok; create: the data on invoke, what was created on ok (the node's name, sequential
   * suffix included, or a lock's fencing token); delete: null, or what is deleted (a lock's token).
   */
  value: Value;
  /** cas only: the expected old value (null = absent). */
  expected?: Value;
  /** Monotonic, non-decreasing across the whole history (ns or sim ticks). */
  time: number;
}

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];
const OP_FUNCTIONS: readonly OpFunction[] = ['read', 'write', 'cas', 'create', 'delete'];

// ---------------------------------------------------------------------------
// JSON Lines

/** One event per line, fields in a fixed order, with a trailing newline. */
export function toJsonLines(events: readonly HistoryEvent[]): string {
  return events.map((e) => JSON.stringify(canonical(e)) + '\n').join('');
}

/** Parses and validates a JSON Lines history; blank lines are ignored. */
export function fromJsonLines(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new Error(`history line ${i + 1}: invalid JSON (${(err as Error).message})`);
    }
    const problem = shapeProblem(parsed);
    if (problem !== undefined) throw new Error(`history line ${i + 1}: ${problem}: ${line}`);
    events.push(canonical(parsed as HistoryEvent));
  }
  return events;
}

/** A copy with only the known fields, in a fixed order (`time` last, for readability). */
function canonical(e: HistoryEvent): HistoryEvent {
  const { process, type, f, key, value, expected, time } = e;
  return expected === undefined
    ? { process, type, f, key, value, time }
    : { process, type, f, key, value, expected, time };
}

function isValue(v: unknown): v is Value {
  if (Array.isArray(v)) return v.every((x) => typeof x === 'string');
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

/** Returns a description of what is wrong with `x` as a HistoryEvent, or undefined if it is fine. */
function shapeProblem(x: unknown): string | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'not a JSON object';
  const o = x as Record<string, unknown>;
  if (typeof o.process !== 'number' || !Number.isInteger(o.process)) return '"process" must be an integer';
  if (!EVENT_TYPES.includes(o.type as EventType)) return `"type" must be one of ${EVENT_TYPES.join(', ')}`;
  if (!OP_FUNCTIONS.includes(o.f as OpFunction)) return `"f" must be one of ${OP_FUNCTIONS.join(', ')}`;
  if (typeof o.key !== 'string') return '"key" must be a string';
  if (!('value' in o) || !isValue(o.value)) return '"value" must be a string, a finite number, a list of strings or null';
  if (typeof o.time !== 'number' || !Number.isFinite(o.time)) return '"time" must be a finite number';
  if (o.expected !== undefined) {
    if (o.f !== 'cas') return '"expected" is only allowed on cas events';
    if (!isValue(o.expected)) return '"expected" must be a string, a finite number, a list of strings or null';
  } else if (o.f === 'cas' && o.type === 'invoke') {
    return 'a cas invoke needs "expected" (null = absent)';
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Recorder

/** Identifies one invoked operation; pass it back to ok/fail/info. */
export interface OpHandle {
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  readonly value: Value;
  readonly expected?: Value;
}

/**
 * Records a well-formed history. The clock is injected so simulations can use
 * their own ticks; it must be non-decreasing.
 */
export class HistoryRecorder {
  readonly #now: () => number;
  readonly #onEvent: ((e: HistoryEvent) => void) | undefined;
  readonly #events: HistoryEvent[] = [];
  /** Open operation per process. */
  readonly #open = new Map<number, OpHandle>();
  #lastTime = -Infinity;

  /** `onEvent` sees each event as it is recorded (to stream a long history to disk). */
  constructor(now: () => number, onEvent?: (e: HistoryEvent) => void) {
    this.#now = now;
    this.#onEvent = onEvent;
  }

  /** How many events are recorded. */
  get size(): number {
    return this.#events.length;
  }

  invoke(process: number, f: OpFunction, key: string, value: Value, expected?: Value): OpHandle {
    const pending = this.#open.get(process);
    if (pending !== undefined) {
      throw new Error(`process ${process} invoked ${f} ${key} while its ${pending.f} ${pending.key} is still outstanding`);
    }
    if (f === 'cas' && expected === undefined) throw new Error('cas needs an expected value (null = absent)');
    if (f !== 'cas' && expected !== undefined) throw new Error(`${f} does not take an expected value`);
    if (f === 'read' && value !== null) throw new Error('a read is invoked with value null');
    const time = this.#tick();
    const handle: OpHandle = f === 'cas' ? { process, f, key, value, expected } : { process, f, key, value };
    this.#open.set(process, handle);
    this.#push(handle, 'invoke', value, time);
    return handle;
  }

  /**
   * The op happened. For a read, `value` is the value read (null = absent); for a create, what was
   * created (default: the invoked value).
   */
  ok(handle: OpHandle, value?: Value): void {
    let result = handle.value;
    if (handle.f === 'read') {
      if (value === undefined) throw new Error('ok() of a read needs the value read (null = absent)');
      result = value;
    } else if (handle.f === 'create') {
      result = value ?? handle.value;
    } else if (value !== undefined && value !== handle.value) {
      throw new Error(`ok() of a ${handle.f} got value ${String(value)} but the op was invoked with ${String(handle.value)}`);
    }
    this.#complete(handle, 'ok', result);
  }

  /** The op definitely did not happen. */
  fail(handle: OpHandle): void {
    this.#complete(handle, 'fail', handle.f === 'read' ? null : handle.value);
  }

  /**
   * Outcome unknown: the op may take effect at any later time, or never. This
   * closes the op for the recorder, so the process may invoke again.
   */
  info(handle: OpHandle): void {
    this.#complete(handle, 'info', handle.f === 'read' ? null : handle.value);
  }

  /** A copy of the events recorded so far. */
  events(): HistoryEvent[] {
    return this.#events.slice();
  }

  #complete(handle: OpHandle, type: EventType, value: Value): void {
    if (this.#open.get(handle.process) !== handle) {
      throw new Error(`${type}() on a ${handle.f} ${handle.key} of process ${handle.process} that is not outstanding`);
    }
    const time = this.#tick();
    this.#open.delete(handle.process);
    this.#push(handle, type, value, time);
  }

  /** Reads the clock, checking it is sane before anything is mutated. */
  #tick(): number {
    const time = this.#now();
    if (!Number.isFinite(time)) throw new Error(`clock returned a non-finite time ${time}`);
    if (time < this.#lastTime) throw new Error(`clock went backwards: ${time} < ${this.#lastTime}`);
    this.#lastTime = time;
    return time;
  }

  #push(handle: OpHandle, type: EventType, value: Value, time: number): void {
    const event: HistoryEvent = { process: handle.process, type, f: handle.f, key: handle.key, value, time };
    if (handle.f === 'cas') event.expected = handle.expected ?? null;
    const e = canonical(event);
    this.#events.push(e);
    this.#onEvent?.(e);
  }
}
