/**
 * Where each workload keeps its data, shared by the workloads that write it and the checkers that
 * pick its events out of the one history of a run.
 */
export const FAULT_ROOT = '/fault';
export const REGISTER_PREFIX = '/fault/reg';
export const SET_PREFIX = '/fault/set';
export const SEQUENCE_PREFIX = '/fault/seq';
export const EPHEMERAL_PREFIX = '/fault/eph';
export const WATCH_PREFIX = '/fault/watch';
/** The nemesis's own writes (to make a member lag far enough to need a snapshot); not in the history. */
export const BURST_PREFIX = '/fault/burst';
export const LOCK_NAME = 'fault-lock';
/** History keys of the lock (acquire/release) and of its guarded resource (admitted steps). */
export const LOCK_KEY = `lock:${LOCK_NAME}`;
export const FENCE_KEY = `fence:${LOCK_NAME}`;
/** The first element of the watcher's note that it had to skip ahead (the servers' window had passed). */
export const RESUME_GAP = 'resume-gap';

/** Is `key` inside the subtree `prefix` (strictly below it)? */
export function under(prefix: string, key: string): boolean {
  return key.startsWith(`${prefix}/`);
}
