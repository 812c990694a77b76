/** What a started peer cluster (etcd, ZooKeeper, later Conclave) gives the benchmark. */
export interface PeerCluster {
  /** One client endpoint per member, `127.0.0.1:port`, in member order. */
  endpoints: string[];
  /** Server process ids, in member order (for /proc CPU and RSS). */
  pids: number[];
  /** Milliseconds from spawning the members to the first successful readiness probe. */
  readyMs: number;
  /** Index into `endpoints` of the current leader. */
  leaderIndex(): Promise<number>;
  /** Stops every member (SIGTERM, then SIGKILL); the data directory is kept. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Data and logs go under this directory (one subdirectory and one log file per member). */
  dir: string;
  /** First client port; the other ports are derived from it. */
  basePort?: number;
  /** Readiness deadline. */
  timeoutMs?: number;
  /** Members (default 3; 1: a single member, ZooKeeper standalone). */
  size?: number;
}
