/** What the load generator needs from a system under test (etcd, ZooKeeper, Conclave). */
export interface WatchEvent {
  key: string;
  /** The key's own version after the change (etcd `version`, ZooKeeper `stat.version`). */
  version: number;
  /** performance.now() when the client saw the event. */
  at: number;
}

/**
 * One contender for one named lock, with its own session (Conclave, ZooKeeper) or lease (etcd): an
 * independent owner. One acquire or release at a time; `acquire` resolves once this contender holds it.
 */
export interface Locker {
  acquire(): Promise<void>;
  release(): Promise<void>;
  /** Ends the session or lease (releasing anything held) and any wait in progress. */
  close(): Promise<void>;
}

export interface Adapter {
  readonly name: string;
  put(key: string, value: Uint8Array): Promise<void>;
  /** Creates a new key whose parent exists (etcd: a put). */
  create(key: string, value: Uint8Array): Promise<void>;
  /** Linearizable: etcd's default range, ZooKeeper's sync + getData. Otherwise served by the member. */
  get(key: string, opts: { linearizable: boolean }): Promise<Uint8Array | undefined>;
  /** The key's own version (as in WatchEvent), undefined if it does not exist. */
  version(key: string): Promise<number | undefined>;
  /** Calls `onEvent` for changes under `prefix`; resolves once armed, to a function that cancels. `onError`: the watch broke. */
  watch(prefix: string, onEvent: (e: WatchEvent) => void, onError?: (err: unknown) => void): Promise<() => Promise<void>>;
  /** A new contender for lock `name` (`[A-Za-z0-9._-]+`) that talks to the member at `endpoint`. */
  locker?(name: string, endpoint: string): Promise<Locker>;
  close(): Promise<void>;
}
