/**
 * A 3-member Apache ZooKeeper ensemble on 127.0.0.1 from Debian's zookeeper package: forceSync=yes,
 * tickTime 2000, a 1000 MiB heap cap (upstream zkServer.sh's default; Debian sets none).
 * Client ports basePort+i (default 21810..21812), quorum basePort+100+i, election basePort+200+i.
 * With `size: 1`, one member in standalone mode (no quorum ports).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { ClusterOptions, PeerCluster } from './cluster.js';
import { exitedEarly, spawnMember, stopMembers, waitFor } from './process.js';

const JAVA = '/usr/bin/java';
// Debian's zookeeper.jar names its dependencies in its manifest; slf4j-simple makes it log at all.
const CLASSPATH = '/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar';
const SIZE = 3;

export async function startZooKeeperCluster(opts: ClusterOptions & { heapMb?: number }): Promise<PeerCluster> {
  const base = opts.basePort ?? 21810;
  const size = opts.size ?? SIZE;
  const servers = size === 1 ? [] : Array.from({ length: size }, (_, i) => `server.${i + 1}=127.0.0.1:${base + 100 + i}:${base + 200 + i}`);
  const members = Array.from({ length: size }, (_, i) => ({
    port: base + i,
    dataDir: join(opts.dir, `zk-${i + 1}`),
    log: join(opts.dir, `zk-${i + 1}.log`),
  }));
  for (const [i, m] of members.entries()) {
    await mkdir(m.dataDir, { recursive: true });
    await writeFile(join(m.dataDir, 'myid'), `${i + 1}\n`);
    await writeFile(join(m.dataDir, 'zoo.cfg'), [
      'tickTime=2000',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${m.dataDir}`,
      'clientPortAddress=127.0.0.1',
      `clientPort=${m.port}`,
      'forceSync=yes',
      // Not durability: the default of 60 connections per client address would cap the watch workloads.
      'maxClientCnxns=0',
      'admin.enableServer=false',
      '4lw.commands.whitelist=srvr,mntr,ruok',
      ...servers,
      '',
    ].join('\n'));
  }
  const started = Date.now();
  const children = members.map((m) =>
    spawnMember(JAVA, [
      `-Xmx${opts.heapMb ?? 1000}m`,
      '-cp', CLASSPATH,
      'org.apache.zookeeper.server.quorum.QuorumPeerMain',
      join(m.dataDir, 'zoo.cfg'),
    ], m.log),
  );
  const stop = () => stopMembers(children);
  try {
    // Every member serving (leader or follower) means the quorum formed and followers synced.
    await waitFor('zookeeper ensemble', opts.timeoutMs ?? 60_000, async () => {
      const modes = await Promise.all(members.map((m) => serverMode(m.port)));
      return modes.every((x) => x === 'leader' || x === 'follower' || x === 'standalone') ? true : undefined;
    }, () => exitedEarly(children, members.map((m) => m.log)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoints: members.map((m) => `127.0.0.1:${m.port}`),
    pids: children.map((c) => c.pid!),
    readyMs: Date.now() - started,
    leaderIndex: async () => {
      const modes = await Promise.all(members.map((m) => serverMode(m.port)));
      const i = modes.findIndex((x) => x === 'leader' || x === 'standalone');
      if (i < 0) throw new Error(`zookeeper: no leader (modes ${modes.join(', ')})`);
      return i;
    },
    stop,
  };
}

/** The `Mode:` line of the `srvr` four-letter command, or undefined while the member isn't serving. */
export function serverMode(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let out = '';
    const sock = createConnection({ host: '127.0.0.1', port }, () => sock.end('srvr'));
    sock.setTimeout(2000, () => sock.destroy(new Error('srvr timed out')));
    sock.on('data', (d) => (out += d.toString()));
    sock.on('error', reject);
    sock.on('close', () => resolve(/^Mode: (\w+)/m.exec(out)?.[1]));
  });
}
