import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotStore } from '../../src/storage/sqlite-snapshot.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conclave-inspect-'));
  const store = new SnapshotStore(dir);
  await store.open();
  const writer = store.beginWrite(
    { index: 42, term: 7, conf: { voters: [1, 2, 3], learners: [4] }, stateMachine: 'kv', stateVersion: 2, zxid: 99 },
    [{ name: 'kv', columns: [{ name: 'k', type: 'TEXT' }, { name: 'v', type: 'BLOB' }], primaryKey: ['k'] }],
  );
  await writer.write('kv', [
    ['a', new Uint8Array([1])],
    ['b', null],
    ['c', new Uint8Array([2, 3])],
  ]);
  file = (await writer.commit()).path;
  await store.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function conclave(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('conclave snapshot inspect', () => {
  it('reports the header and every table with its row count', () => {
    const r = conclave('snapshot', 'inspect', file, '--json');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ index: 42, term: 7, voters: [1, 2, 3], learners: [4], stateMachine: 'kv', stateVersion: 2, zxid: 99 });
    expect(report['tables']).toEqual([{ name: 'kv', columns: ['k TEXT', 'v BLOB'], rows: 3 }]);
    const text = conclave('snapshot', 'inspect', file);
    expect(text.stdout).toContain('index / term:  42 / 7');
    expect(text.stdout).toContain('kv (k TEXT, v BLOB): 3 row(s)');
  });

  it('the file is plain SQLite: any SQLite client reads its meta table', () => {
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
    db.close();
    const meta = new Map(rows.map((r) => [r.key, r.value]));
    expect(String(meta.get('index'))).toBe('42');
    expect(String(meta.get('term'))).toBe('7');
  });

  it('a file that is not a snapshot gets a clear error and a non-zero exit', async () => {
    const bogus = join(dir, 'bogus.sqlite');
    await writeFile(bogus, 'this is not a database');
    const r = conclave('snapshot', 'inspect', bogus);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^conclave: /);
    expect(r.stdout).toBe('');
  });

  it('bad usage exits 2 with the usage line', () => {
    const r = conclave('snapshot', 'inspect');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('conclave snapshot inspect FILE');
    expect(conclave('frobnicate').status).toBe(2);
  });
});
