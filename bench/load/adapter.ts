/** What the load generator needs from a system under test (etcd, ZooKeeper, Conclave). */
export interface WatchEvent {
  key: string;
  /** The key's own version after the change (etcd `version`, ZooKeeper `stat.version`). */
  version: number;
  /** performance.now() when the client saw the event. */
  at: number;
}

export interface Adapter {
  readonly name: string;
  put(key: string, value: Uint8Array): Promise<void>;
  /** Linearizable: etcd's default range, ZooKeeper's sync + getData. Otherwise served by the member. */
  get(key: string, opts: { linearizable: boolean }): Promise<Uint8Array | undefined>;
  /** Calls `onEvent` for changes under `prefix`; resolves once armed, to a function that cancels. */
  watch(prefix: string, onEvent: (e: WatchEvent) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
