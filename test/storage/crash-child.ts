/**
 * A single-node Conclave log driven hard, for the crash test (`crash.test.ts` kills it with SIGKILL).
 *
 *   node dist/test/storage/crash-child.js run DIR     — propose values 1, 2, 3, … from 16 concurrent
 *       proposers; print "ack INDEX VALUE" once each is committed (i.e. fsync'd) and applied.
 *   node dist/test/storage/crash-child.js dump DIR    — print the durable log as JSON:
 *       {"values": [[index, value], …]} from the newest snapshot plus the WAL.
 *
 * The shell loop is the real one a server runs: ready → persist (WAL, one fdatasync) → advance.
 * Every 500 applied entries it takes a SQLite snapshot of the applied values and compacts.
 */
import { SeededRng } from '../../src/common/rng.js';
import { EntryType, RawNode, bootstrapEntries } from '../../src/raft/index.js';
import { DiskStorage } from '../../src/storage/disk-storage.js';
import type { SnapshotTableSpec } from '../../src/storage/sqlite-snapshot.js';

const TABLES: readonly SnapshotTableSpec[] = [
  { name: 'applied', columns: [{ name: 'idx', type: 'INTEGER' }, { name: 'value', type: 'INTEGER' }], primaryKey: ['idx'] },
];
const PROPOSERS = 16;
const SNAPSHOT_EVERY = 500;

const [, , mode, dir] = process.argv;
if (!dir || (mode !== 'run' && mode !== 'dump')) {
  process.stderr.write('usage: crash-child run|dump DIR\n');
  process.exit(2);
}

async function restoreValues(storage: DiskStorage): Promise<Map<number, number>> {
  const values = new Map<number, number>();
  const file = storage.snapshotFile();
  if (file) {
    for await (const rows of storage.snapshots.readRows(file.path, 'applied')) {
      for (const [idx, value] of rows) values.set(Number(idx), Number(value));
    }
  }
  return values;
}

async function dump(): Promise<void> {
  const storage = await DiskStorage.open(dir as string);
  const values = await restoreValues(storage);
  for (const e of storage.memory.allEntries()) {
    if (e.type === EntryType.Normal && e.data.length > 0) values.set(e.index, Number(new TextDecoder().decode(e.data)));
  }
  process.stdout.write(`${JSON.stringify({ values: [...values.entries()].sort((a, b) => a[0] - b[0]) })}\n`);
  await storage.close();
}

async function run(): Promise<void> {
  const storage = await DiskStorage.open(dir as string, { keepSnapshots: 2, keepEntriesAfterSnapshot: 100, segmentBytesMax: 64 * 1024 });
  if (storage.isEmpty()) {
    const { entries, hardState } = bootstrapEntries([1]);
    await storage.bootstrap(entries, hardState);
  }
  const applied = await restoreValues(storage);
  // Continue the value sequence after everything durable (acknowledged or not).
  let next = 1;
  for (const v of applied.values()) next = Math.max(next, v + 1);
  for (const e of storage.memory.allEntries()) if (e.type === EntryType.Normal && e.data.length > 0) next = Math.max(next, Number(new TextDecoder().decode(e.data)) + 1);

  const node = new RawNode({ id: 1, storage: storage.memory, rng: new SeededRng(1), electionTicks: 10 });
  node.campaign();
  const pending = new Set<number>();
  let lastSnapshot = storage.memory.snapshot().meta.index;
  let snapshotting = false;

  const propose = (): void => {
    while (pending.size < PROPOSERS && node.raft.role === 'leader') {
      const value = next++;
      node.propose(new TextEncoder().encode(String(value)));
      pending.add(value);
    }
  };

  let out = '';
  for (;;) {
    propose();
    if (!node.hasReady()) {
      await new Promise((r) => setImmediate(r));
      node.tick();
      continue;
    }
    const rd = node.ready();
    await storage.persist(rd);
    for (const e of rd.committedEntries) {
      if (e.type !== EntryType.Normal || e.data.length === 0) continue;
      const value = Number(new TextDecoder().decode(e.data));
      applied.set(e.index, value);
      pending.delete(value);
      out += `ack ${e.index} ${value}\n`;
    }
    node.advance();
    if (out) {
      process.stdout.write(out);
      out = '';
    }
    const index = node.raft.log.applied;
    if (!snapshotting && index - lastSnapshot >= SNAPSHOT_EVERY) {
      snapshotting = true;
      const rows = [...applied.entries()].filter(([i]) => i <= index);
      void storage
        .saveSnapshot({ index, conf: node.confState(), stateMachine: 'crash-test-values', stateVersion: 1 }, TABLES, async (w) => {
          for (let i = 0; i < rows.length; i += 2000) await w.write('applied', rows.slice(i, i + 2000));
        })
        .then(() => {
          lastSnapshot = index;
          snapshotting = false;
        });
    }
  }
}

(mode === 'dump' ? dump() : run()).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
