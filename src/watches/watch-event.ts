/**
 * What a watcher receives: a `ChangeEvent` of the state machine, optionally with the node's data and
 * stat, which the server reads from the tree right after the txn is applied (only for watchers that
 * asked for data).
 */
import { utf8Length } from '../state/path.js';
import type { ChangeEvent } from '../state/state-machine.js';
import type { Stat } from '../state/stat.js';

export type WatchEventType = ChangeEvent['type'];

export const WATCH_EVENT_TYPES: readonly WatchEventType[] = ['created', 'changed', 'deleted', 'children'];

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly path: string;
  /** The zxid (Raft index) of the txn that produced the event; shared by all events of that txn. */
  readonly zxid: number;
  readonly data?: Uint8Array;
  readonly stat?: Stat;
}

/** The bytes charged per event on top of its path and data: type, zxid, a stat, object headers. */
export const WATCH_EVENT_OVERHEAD_BYTES = 128;

/** The bytes an event is charged in history and queue accounting. */
export function watchEventBytes(event: WatchEvent): number {
  return WATCH_EVENT_OVERHEAD_BYTES + utf8Length(event.path) + (event.data?.length ?? 0);
}
