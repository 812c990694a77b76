import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import {
  SnapshotStore,
  type SnapshotHeader,
  type SnapshotRow,
  type SnapshotTableSpec,
  type SnapshotValue,
} from '../../src/storage/sqlite-snapshot.js';

const KV: SnapshotTableSpec = {
  name: 'kv',
  columns: [
    { name: 'key', type: 'TEXT' },
    { name: 'value', type: 'BLOB' },
    { name: 'version', type: 'INTEGER' },
  ],
  primaryKey: ['key'],
};
const SESSIONS: SnapshotTableSpec = {
  name: 'sessions',
  columns: [
    { name: 'id', type: 'INTEGER' },
    { name: 'owner', type: 'TEXT' },
    { name: 'timeout', type: 'REAL' },
    { name: 'token', type: 'INTEGER' },
  ],
  primaryKey: ['id'],
};
const TABLES = [KV, SESSIONS];

const header = (index: number, term = 3): SnapshotHeader => ({
  index,
  term,
  conf: { voters: [1, 2, 3], learners: [4] },
  stateMachine: 'znode-tree',
  stateVersion: 2,
  zxid: 0x1_0000_0042,
});

/** Deterministic rows with every kind of value: unicode, empty and non-empty blobs, nulls, huge bigints. */
function kvRows(n: number): SnapshotRow[] {
  const rows: SnapshotRow[] = [];
  for (let i = 0; i < n; i++) {
    const key = i % 997 === 0 ? `/zürich/😀/${String(i).padStart(6, '0')}` : `/k/${String(i).padStart(8, '0')}`;
    const value = i % 101 === 0 ? new Uint8Array(0) : Uint8Array.from({ length: 1 + (i % 40) }, (_, j) => (i * 31 + j) & 0xff);
    rows.push([key, i % 13 === 0 ? null : value, i]);
  }
  return rows;
}

function sessionRows(n: number): SnapshotRow[] {
  const rows: SnapshotRow[] = [];
  for (let i = 0; i < n; i++) {
    const token: SnapshotValue = i % 3 === 0 ? 2n ** 62n + BigInt(i) : i % 3 === 1 ? -(2n ** 63n) + BigInt(i) : null;
    rows.push([i * 7 + 1, i % 5 === 0 ? null : `owner-${i}`, i + 0.25, token]);
  }
  return rows;
}

/** A seeded Fisher–Yates shuffle, so rows reach the writer out of key order. */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function compareKeys(a: SnapshotRow, b: SnapshotRow): number {
  const x = a[0] as string | number;
  const y = b[0] as string | number;
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  return Buffer.compare(Buffer.from(String(x)), Buffer.from(String(y)));
}

async function writeAll(store: SnapshotStore, h: SnapshotHeader, data: ReadonlyMap<string, readonly SnapshotRow[]>, batch = 1000) {
  const w = store.beginWrite(h, TABLES);
  for (const [table, rows] of data) {
    for (let i = 0; i < rows.length; i += batch) await w.write(table, rows.slice(i, i + batch));
  }
  return w.commit();
}

async function readAll(store: SnapshotStore, path: string, table: string, batchRows?: number): Promise<SnapshotRow[]> {
  const out: SnapshotRow[] = [];
  for await (const batch of store.readRows(path, table, batchRows)) {
    if (batchRows !== undefined) expect(batch.length).toBeLessThanOrEqual(batchRows);
    out.push(...batch);
  }
  return out;
}

async function expectConclave(p: Promise<unknown>, code: ErrorCode): Promise<ConclaveError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConclaveError);
  expect((err as ConclaveError).code).toBe(code);
  return err as ConclaveError;
}

let dirs: string[] = [];
let stores: SnapshotStore[] = [];
const freshDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'conclave-snap-'));
  dirs.push(d);
  return d;
};
/** A store over `dir` (a fresh one by default), opened, and closed after the test. */
async function openStore(dir?: string, opts?: ConstructorParameters<typeof SnapshotStore>[1]): Promise<SnapshotStore> {
  const store = new SnapshotStore(dir ?? (await freshDir()), opts);
  stores.push(store);
  await store.open();
  return store;
}
beforeEach(() => {
  dirs = [];
  stores = [];
});
afterEach(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('SnapshotStore', () => {
  it('writes two tables in batches and reads back header and rows exactly', async () => {
    const dir = await freshDir();
    const store = await openStore(dir);
    expect(store.latest()).toBeUndefined();
    const kv = kvRows(40_000);
    const sessions = sessionRows(10_000);
    const info = await writeAll(store, header(1234, 7), new Map([['kv', shuffled(kv, 1)], ['sessions', shuffled(sessions, 2)]]), 1500);

    expect(info).toMatchObject({ index: 1234, term: 7, path: join(dir, 'snap-0000000000000007-00000000000004d2.sqlite') });
    expect(info.bytes).toBeGreaterThan(1_000_000);
    expect(store.list()).toEqual([info]);
    expect(store.latest()).toEqual(info);
    expect(await readdir(dir)).toEqual(['snap-0000000000000007-00000000000004d2.sqlite']);

    expect(await store.readHeader(info.path)).toEqual(header(1234, 7));
    expect(await store.readTables(info.path)).toEqual(TABLES);

    const gotKv = await readAll(store, info.path, 'kv', 7000);
    expect(gotKv.length).toBe(kv.length);
    expect(gotKv).toEqual([...kv].sort(compareKeys));
    const firstBlob = gotKv.find((r) => r[1] !== null)?.[1];
    expect(Object.getPrototypeOf(firstBlob)).toBe(Uint8Array.prototype); // plain Uint8Array, not Buffer
    expect(gotKv.filter((r) => r[1] instanceof Uint8Array && r[1].byteLength === 0).length).toBeGreaterThan(0);

    const gotSessions = await readAll(store, info.path, 'sessions');
    expect(gotSessions).toEqual([...sessions].sort(compareKeys));
    expect(gotSessions.some((r) => typeof r[3] === 'bigint' && r[3] < 0n)).toBe(true);
  });

  it('produces a plain SQLite file that any SQLite client can read', async () => {
    const dir = await freshDir();
    const store = await openStore(dir, { nowMs: () => 1_700_000_000_000 });
    const info = await writeAll(store, header(99), new Map([['kv', kvRows(10)]]));
    const db = new Database(info.path, { readonly: true });
    try {
      expect(db.prepare("select value from meta where key='index'").pluck().get()).toBe(99);
      expect(db.prepare("select typeof(value) from meta where key='index'").pluck().get()).toBe('integer');
      expect(db.prepare("select value from meta where key='voters'").pluck().get()).toBe('[1,2,3]');
      expect(db.prepare("select value from meta where key='created_at_ms'").pluck().get()).toBe(1_700_000_000_000);
      expect(db.prepare('select count(*) from kv').pluck().get()).toBe(10);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  it('abort() leaves no files, and open() removes a temp file left by a crash', async () => {
    const dir = await freshDir();
    const store = await openStore(dir);
    const w = store.beginWrite(header(5), TABLES);
    await w.write('kv', kvRows(5000));
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(true);
    await w.abort();
    expect(await readdir(dir)).toEqual([]);
    await expectConclave(w.write('kv', kvRows(1)), ErrorCode.INVALID_ARGUMENT);
    expect(store.list()).toEqual([]);

    const kept = await writeAll(store, header(6), new Map([['kv', kvRows(3)]]));
    const crashed = join(dir, 'snap-0000000000000003-0000000000000007.sqlite.1234-abcdef.tmp');
    await writeFile(crashed, 'half a snapshot');
    const reopened = await openStore(dir);
    expect(await readdir(dir)).toEqual([kept.path.slice(dir.length + 1)]);
    expect(reopened.list()).toEqual([kept]);
  });

  it('prune() with keep=2 keeps the two newest and returns the older kept index', async () => {
    const dir = await freshDir();
    const store = await openStore(dir, { keep: 2 });
    expect(await store.prune()).toBe(0);
    for (const index of [10, 20, 30, 40]) await writeAll(store, header(index), new Map([['kv', kvRows(index)]]));
    expect(store.list().map((f) => f.index)).toEqual([10, 20, 30, 40]);
    expect(await store.prune()).toBe(30);
    expect(store.list().map((f) => f.index)).toEqual([30, 40]);
    expect((await readdir(dir)).sort()).toEqual(store.list().map((f) => f.path.slice(dir.length + 1)));
    expect(await store.prune()).toBe(30);
  });

  it('install() publishes bytes shipped from another store; garbage leaves nothing behind', async () => {
    const leader = await openStore();
    const kv = kvRows(20_000);
    const sent = await writeAll(leader, header(777, 9), new Map([['kv', kv], ['sessions', sessionRows(100)]]));
    const bytes = await leader.readBytes(sent.path);
    expect(bytes.byteLength).toBe(sent.bytes);

    const followerDir = await freshDir();
    const follower = await openStore(followerDir);

    await expectConclave(follower.install(randomBytes(64 * 1024)), ErrorCode.INVALID_ARGUMENT);
    await expectConclave(follower.install(bytes.subarray(0, Math.floor(bytes.byteLength / 2))), ErrorCode.INVALID_ARGUMENT);
    await expectConclave(follower.install(bytes.subarray(0, 4096)), ErrorCode.INVALID_ARGUMENT);
    const padded = new Uint8Array(bytes.byteLength + 4096);
    padded.set(bytes);
    expect((await expectConclave(follower.install(padded), ErrorCode.INVALID_ARGUMENT)).message).toMatch(/length/); // SQLite alone would accept it
    const notOurs = join(await freshDir(), 'other.db');
    const other = new Database(notOurs);
    other.exec('create table t (x); insert into t values (1)');
    other.close();
    const foreign = await follower.readBytes(notOurs);
    expect((await expectConclave(follower.install(foreign), ErrorCode.INVALID_ARGUMENT)).message).toMatch(/meta/);
    expect(await readdir(followerDir)).toEqual([]);
    expect(follower.list()).toEqual([]);

    const installed = await follower.install(bytes);
    expect(installed).toEqual({ path: join(followerDir, 'snap-0000000000000009-0000000000000309.sqlite'), index: 777, term: 9, bytes: sent.bytes });
    expect(follower.list()).toEqual([installed]);
    expect(await readdir(followerDir)).toEqual(['snap-0000000000000009-0000000000000309.sqlite']);
    expect(await follower.readHeader(installed.path)).toEqual(await leader.readHeader(sent.path));
    expect(await readAll(follower, installed.path, 'kv')).toEqual(await readAll(leader, sent.path, 'kv'));
    expect(await readAll(follower, installed.path, 'sessions')).toEqual(await readAll(leader, sent.path, 'sessions'));
  });

  it('refuses bad headers, schemas and rows with typed errors and no files left', async () => {
    const dir = await freshDir();
    expect(() => new SnapshotStore(dir).beginWrite(header(1), TABLES)).toThrow(ConclaveError); // not open yet
    const store = await openStore(dir);
    expect(() => store.beginWrite(header(0), TABLES)).toThrow(/index/);
    expect(() => store.beginWrite({ ...header(1), conf: { voters: [1], learners: [1] } }, TABLES)).toThrow(/voter and learner/);
    expect(() => store.beginWrite(header(1), [{ name: 'meta', columns: [{ name: 'a', type: 'TEXT' }] }])).toThrow(/reserved/);
    expect(() => store.beginWrite(header(1), [{ name: 'x; drop', columns: [{ name: 'a', type: 'TEXT' }] }])).toThrow(/identifiers/);
    expect(() => store.beginWrite(header(1), [{ name: 't', columns: [{ name: 'a', type: 'TEXT' }], primaryKey: ['b'] }])).toThrow(/primary key/);

    const wrongWidth = store.beginWrite(header(1), TABLES);
    await expectConclave(wrongWidth.write('kv', [['k', null]]), ErrorCode.INVALID_ARGUMENT);
    await expectConclave(wrongWidth.commit(), ErrorCode.INVALID_ARGUMENT);
    await wrongWidth.abort();

    const unknownTable = store.beginWrite(header(2), TABLES);
    await expectConclave(unknownTable.write('nope', [['k']]), ErrorCode.INVALID_ARGUMENT);
    await unknownTable.abort();

    const duplicateKey = store.beginWrite(header(3), TABLES);
    const dup = (async () => {
      await duplicateKey.write('kv', [['same', null, 1]]);
      await duplicateKey.write('kv', [['same', null, 2]]);
      return duplicateKey.commit();
    })();
    const err = await expectConclave(dup, ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toMatch(/UNIQUE/);
    await duplicateKey.abort();

    const badValue = store.beginWrite(header(4), TABLES);
    await expectConclave(badValue.write('kv', [['k', { not: 'a value' } as unknown as Uint8Array, 1]]), ErrorCode.INVALID_ARGUMENT);
    await badValue.abort();

    expect(await readdir(dir)).toEqual([]);
    expect(store.list()).toEqual([]);
  });

  it('reports a published file that is not a sane snapshot as CORRUPTED', async () => {
    const dir = await freshDir();
    const good = await writeAll(await openStore(dir), header(8), new Map([['kv', kvRows(100)]]));
    const garbage = join(dir, 'snap-0000000000000001-0000000000000009.sqlite');
    await writeFile(garbage, randomBytes(8192));
    const broken = join(dir, 'snap-0000000000000001-000000000000000a.sqlite');
    const db = new Database(broken);
    db.exec("create table meta (key text primary key, value); insert into meta values ('format_version', 1), ('index', 'ten')");
    db.close();

    const store = await openStore(dir);
    expect(store.list().map((f) => f.index)).toEqual([8, 9, 10]); // names are trusted until read
    await expectConclave(store.readHeader(garbage), ErrorCode.CORRUPTED);
    expect((await expectConclave(store.readHeader(broken), ErrorCode.CORRUPTED)).message).toMatch(/index/);
    await expectConclave(readAll(store, garbage, 'kv'), ErrorCode.CORRUPTED);
    await expectConclave(store.readHeader(join(dir, 'missing.sqlite')), ErrorCode.UNAVAILABLE);
    await expectConclave(readAll(store, good.path, 'nope'), ErrorCode.INVALID_ARGUMENT);
    expect(await store.readHeader(good.path)).toEqual(header(8));
  });

  it('keeps the event loop responsive while writing 200k rows (reported, not asserted)', async () => {
    const dir = await freshDir();
    const store = await openStore(dir);
    const n = 200_000;
    const value = new Uint8Array(32).fill(7);
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const started = performance.now();
    const w = store.beginWrite(header(200_000), TABLES);
    let batch: SnapshotRow[] = [];
    for (let i = 0; i < n; i++) {
      batch.push([`key-${i.toString(16).padStart(12, '0')}`, value, i]);
      if (batch.length === 5000) {
        await w.write('kv', batch);
        batch = [];
      }
    }
    const info = await w.commit();
    histogram.disable();
    console.log(
      `snapshot of ${n} rows: ${(performance.now() - started).toFixed(0)} ms, ${info.bytes} bytes, ` +
        `event-loop delay max ${(histogram.max / 1e6).toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms`,
    );
    const db = new Database(info.path, { readonly: true });
    try {
      expect(db.prepare('select count(*) from kv').pluck().get()).toBe(n);
      expect(db.prepare('select count(*) from sessions').pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });
});
