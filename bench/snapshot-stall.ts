/**
 * How long does taking a snapshot stall the event loop? (DESIGN §4.5: measure the longest stall.)
 *
 *   npx tsc -p . && node dist/bench/snapshot-stall.js [--records 1000000] [--batch 5000] [--baseline-ms 3000] [--no-settle] [--keep-file]
 *
 * Builds an in-memory state of N small records (key 16 B string, value 32 B), then snapshots it
 * through SnapshotStore in batches produced from a Map iterator while monitorEventLoopDelay runs.
 * Prints one JSON line: {records, batchRows, seconds, fileBytes, eventLoopDelayMaxMs, p99Ms, ...};
 * `commitMaxMs` is the longest stall during commit alone, when the main thread only waits.
 * Target: eventLoopDelayMaxMs < 20 for 1M records.
 *
 * Two things keep the number about the snapshot: a full GC after building the state (the debt of
 * building 1M objects is not the snapshot's; `--no-settle` keeps it), and a baseline: the same
 * monitor over an idle event loop first (`baselineMaxMs`), since a shared VM stalls an idle
 * process by several ms on its own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SnapshotStore, type SnapshotRow, type SnapshotTableSpec } from '../src/storage/sqlite-snapshot.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const records = flag('records', 1_000_000);
const batchRows = flag('batch', 5_000);
const baselineMs = flag('baseline-ms', 3_000);
const keepFile = process.argv.includes('--keep-file');
const settle = !process.argv.includes('--no-settle');

/** A full, synchronous GC without starting node with --expose-gc. */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
}

async function idleBaselineMaxMs(ms: number): Promise<number> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await sleep(ms);
  histogram.disable();
  return histogram.max / 1e6;
}

const KV: SnapshotTableSpec = {
  name: 'kv',
  columns: [
    { name: 'key', type: 'TEXT' },
    { name: 'value', type: 'BLOB' },
  ],
  primaryKey: ['key'],
};

/** The state: key "k/" + 14 hex digits (16 B), value 32 pseudo-random bytes from a fixed LCG. */
function buildState(n: number): Map<string, Uint8Array> {
  const state = new Map<string, Uint8Array>();
  let s = 0x2545f491;
  for (let i = 0; i < n; i++) {
    const value = new Uint8Array(32);
    for (let j = 0; j < 32; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      value[j] = s >>> 24;
    }
    state.set(`k/${(i * 2654435761 % 2 ** 32).toString(16).padStart(8, '0')}${i.toString(16).padStart(6, '0')}`, value);
  }
  return state;
}

async function main(): Promise<void> {
  const state = buildState(records);
  if (settle) fullGc();
  const baselineMaxMs = await idleBaselineMaxMs(baselineMs);
  const dir = await mkdtemp(join(tmpdir(), 'conclave-snapshot-stall-'));
  try {
    const store = new SnapshotStore(dir);
    await store.open();

    // One histogram for the whole snapshot, one for the commit alone (index build, fsync, rename:
    // the main thread only waits there, so its stalls are the machine's, not ours).
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    const commitHistogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const started = process.hrtime.bigint();
    let batchesMs = 0;
    const writer = store.beginWrite({ index: records, term: 1, conf: { voters: [1, 2, 3], learners: [] }, stateMachine: 'bench-kv', stateVersion: 1 }, [KV]);
    const it = state.entries();
    for (;;) {
      const t0 = process.hrtime.bigint();
      const batch: SnapshotRow[] = [];
      for (let next = it.next(); ; next = it.next()) {
        if (next.done) break;
        batch.push(next.value);
        if (batch.length === batchRows) break;
      }
      if (batch.length === 0) break;
      const pending = writer.write('kv', batch);
      batchesMs = Math.max(batchesMs, Number(process.hrtime.bigint() - t0) / 1e6);
      await pending;
    }
    const writeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    commitHistogram.enable();
    const info = await writer.commit();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    histogram.disable();
    commitHistogram.disable();
    await store.close();

    console.log(
      JSON.stringify({
        records,
        batchRows,
        seconds: Number(seconds.toFixed(3)),
        writeSeconds: Number(writeSeconds.toFixed(3)),
        fileBytes: info.bytes,
        eventLoopDelayMaxMs: Number((histogram.max / 1e6).toFixed(2)),
        p99Ms: Number((histogram.percentile(99) / 1e6).toFixed(2)),
        p50Ms: Number((histogram.percentile(50) / 1e6).toFixed(2)),
        commitMaxMs: Number((commitHistogram.max / 1e6).toFixed(2)),
        longestBatchProduceMs: Number(batchesMs.toFixed(2)),
        baselineMaxMs: Number(baselineMaxMs.toFixed(2)),
        settled: settle,
        ...(keepFile ? { path: info.path } : {}),
      }),
    );
  } finally {
    if (!keepFile) await rm(dir, { recursive: true, force: true });
  }
}

await main();
