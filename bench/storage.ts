/**
 * `npm run bench:storage [-- --seconds 5]`: group commit of the write-ahead log under load.
 * A single-node log on disk, driven through the real shell loop (ready → persist → advance) by
 * 1, 16 and 256 concurrent proposers of 256-byte entries. Reports entries/s, fsyncs/s, entries per
 * fsync and the longest event-loop stall. Not a test: figures go to BENCHMARKS.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SeededRng } from '../src/common/rng.js';
import { EntryType, RawNode, bootstrapEntries } from '../src/raft/index.js';
import { DiskStorage } from '../src/storage/disk-storage.js';

interface Result {
  proposers: number;
  seconds: number;
  entries: number;
  entriesPerSecond: number;
  fsyncsPerSecond: number;
  entriesPerFsync: number;
  eventLoopMaxMs: number;
}

async function runOnce(proposers: number, seconds: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'conclave-bench-storage-'));
  const storage = await DiskStorage.open(dir);
  const { entries, hardState } = bootstrapEntries([1]);
  await storage.bootstrap(entries, hardState);
  const node = new RawNode({ id: 1, storage: storage.memory, rng: new SeededRng(1) });
  node.campaign();
  const payload = new Uint8Array(256).fill(7);
  let inFlight = 0;
  let committed = 0;
  const syncsBefore = storage.wal.stats.syncs;
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let countedFrom = -1;
  while (process.hrtime.bigint() < end) {
    while (inFlight < proposers && node.raft.role === 'leader') {
      node.propose(payload);
      inFlight++;
    }
    if (!node.hasReady()) {
      // Idle: let time pass (the first ticks elect this single node once its membership is applied).
      node.tick();
      await new Promise((r) => setImmediate(r));
      continue;
    }
    const rd = node.ready();
    await storage.persist(rd);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.length > 0) {
        inFlight--;
        committed++;
      }
    }
    if (countedFrom < 0) countedFrom = committed;
    node.advance();
  }
  histogram.disable();
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const syncs = storage.wal.stats.syncs - syncsBefore;
  await storage.close();
  await rm(dir, { recursive: true, force: true });
  return {
    proposers,
    seconds: Number(elapsed.toFixed(2)),
    entries: committed,
    entriesPerSecond: Math.round(committed / elapsed),
    fsyncsPerSecond: Math.round(syncs / elapsed),
    entriesPerFsync: Number((committed / Math.max(1, syncs)).toFixed(1)),
    eventLoopMaxMs: Number((histogram.max / 1e6).toFixed(2)),
  };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 5;
  const results: Result[] = [];
  for (const proposers of [1, 16, 256]) {
    const r = await runOnce(proposers, seconds);
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  const at256 = results[2] as Result;
  process.stdout.write(`256 proposers: ${at256.entriesPerFsync} entries per fsync (target ≥ 50)\n`);
}

void main();
