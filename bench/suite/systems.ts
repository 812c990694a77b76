/** The three systems under test: how to start each as a 3-member cluster and how to talk to it. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Adapter } from '../load/adapter.js';
import { ConclaveAdapter } from '../load/conclave-adapter.js';
import { EtcdAdapter } from '../load/etcd-adapter.js';
import { ZooKeeperAdapter } from '../load/zookeeper-adapter.js';
import type { PeerCluster } from '../peers/cluster.js';
import { conclaveDataDirs, startConclaveCluster } from '../peers/conclave-cluster.js';
import { startEtcdCluster } from '../peers/etcd-cluster.js';
import { startZooKeeperCluster } from '../peers/zookeeper-cluster.js';

export const SYSTEM_NAMES = ['conclave', 'etcd', 'zookeeper'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export interface StartedCluster extends PeerCluster {
  /** Conclave only: the members' metrics ports (event-loop stall). */
  metricsPorts?: number[];
}

export interface SystemDef {
  name: SystemName;
  /** Files the system needs; missing ones mean the peer is not installed. */
  binaries: string[];
  start(dir: string): Promise<StartedCluster>;
  connect(endpoints: string[]): Promise<Adapter>;
  dataDirs(dir: string): string[];
}

/**
 * How long a cluster may take to become ready. Generous: a restart on a million znodes takes tens
 * of seconds on two cores (the time is what the start workload measures; a deadline only catches
 * a cluster that never comes up).
 */
const READY_TIMEOUT_MS = 300_000;

export function systemDef(name: SystemName, opts: { cpuProfDir?: string | undefined }): SystemDef {
  switch (name) {
    case 'conclave':
      return {
        name,
        binaries: [join(import.meta.dirname, '../../src/cli/main.js')],
        start: (dir) => startConclaveCluster({ dir, timeoutMs: READY_TIMEOUT_MS, ...(opts.cpuProfDir ? { cpuProfDir: opts.cpuProfDir } : {}) }),
        connect: (endpoints) => ConclaveAdapter.connect(endpoints),
        dataDirs: conclaveDataDirs,
      };
    case 'etcd':
      return {
        name,
        binaries: ['/usr/bin/etcd'],
        start: (dir) => startEtcdCluster({ dir, timeoutMs: READY_TIMEOUT_MS }),
        connect: async (endpoints) => new EtcdAdapter(endpoints),
        dataDirs: (dir) => [1, 2, 3].map((i) => join(dir, `etcd-${i}`)),
      };
    case 'zookeeper':
      return {
        name,
        binaries: ['/usr/bin/java', '/usr/share/java/zookeeper.jar', '/usr/share/java/slf4j-simple.jar'],
        start: (dir) => startZooKeeperCluster({ dir, timeoutMs: READY_TIMEOUT_MS }),
        connect: (endpoints) => ZooKeeperAdapter.connect(endpoints),
        dataDirs: (dir) => [1, 2, 3].map((i) => join(dir, `zk-${i}`)),
      };
  }
}

export const missingBinaries = (def: SystemDef): string[] => def.binaries.filter((b) => !existsSync(b));
