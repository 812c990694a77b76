/**
 * The real `conclave` binary against a real server: stdout, `--json` shapes and exit codes,
 * including bad input (a clear one-line error with the typed code, and nothing changed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as TestClient, Cluster, type Member, ServerProcess, freePort, until } from '../integration/harness.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
let cluster: Cluster;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function json(args: readonly string[]): Promise<Record<string, unknown>> {
  const r = await run([...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  cluster = await Cluster.start(1);
  await cluster.leader();
  env = { ...process.env, CONCLAVE_ENDPOINTS: `127.0.0.1:${cluster.servers[0]?.member.clientPort}` };
});

afterAll(async () => {
  await cluster?.stop();
});

describe('conclave (the CLI)', () => {
  it('creates, reads, lists, updates and deletes nodes', async () => {
    expect((await run(['create', '/app', 'hello'])).stdout).toBe('/app\n');
    expect(await run(['create', '/app/db', '--', 'x'])).toMatchObject({ code: 0 });
    const seq = await run(['create', '/app/job-', '-s']);
    expect(seq.stdout).toMatch(/^\/app\/job-\d{10}\n$/);
    expect((await run(['get', '/app'])).stdout).toBe('hello');
    expect((await run(['ls', '/app'])).stdout.split('\n').filter(Boolean)).toEqual(['db', seq.stdout.trim().slice('/app/'.length)]);
    const set = await json(['set', '/app', 'v2', '--version', '0']);
    expect(set).toMatchObject({ path: '/app', stat: { version: 1 } });
    const got = await json(['get', '/app']);
    expect(got).toMatchObject({ path: '/app', data: 'v2', stat: { version: 1, dataLength: 2, numChildren: 2 } });
    expect((await run(['stat', '/app'])).stdout).toMatch(/^FIELD\s+VALUE\n(.|\n)*version\s+1\n/);
    expect((await run(['tree', '/'])).stdout).toBe(`/\n  app\n    db\n    ${seq.stdout.trim().slice('/app/'.length)}\n`);
    expect(await run(['rm', '-r', '/app'])).toMatchObject({ code: 0 });
    expect(await json(['ls', '/'])).toEqual({ path: '/', children: [] });
  });

  it('reads a value from a file or stdin', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-cli-'));
    try {
      await writeFile(join(dir, 'v'), 'from-file');
      await run(['create', '/f', '--file', join(dir, 'v')]);
      expect((await run(['get', '/f'])).stdout).toBe('from-file');
      await run(['set', '/f', '--file', '-'], 'from-stdin');
      expect((await run(['get', '/f'])).stdout).toBe('from-stdin');
    } finally {
      await rm(dir, { recursive: true, force: true });
      await run(['rm', '/f']);
    }
  });

  it.each([
    [['get', '/missing'], 3, 'NO_NODE'],
    [['create', '/dup'], 0, ''],
    [['create', '/dup'], 4, 'NODE_EXISTS'],
    [['set', '/dup', 'x', '--version', '7'], 4, 'BAD_VERSION'],
    [['get', 'relative'], 2, 'BAD_PATH'],
    [['create', '/a/'], 2, 'BAD_PATH'],
    [['get'], 2, 'get takes 1 argument'],
    [['get', '/x', '--bogus'], 2, "Unknown option '--bogus'"],
    [['set', '/dup', 'x', '--version', 'seven'], 2, '--version must be an integer'],
    [['frobnicate'], 2, 'unknown command'],
    [['member', 'add', 'x', 'nowhere', '127.0.0.1:1'], 2, 'ID must be an integer'],
    [['get', '/x', '--endpoints', 'bad endpoint'], 2, 'must be host:port'],
  ] as const)('%j exits %i with %s', async (args, code, text) => {
    const r = await run(args);
    expect(r.code).toBe(code);
    if (code !== 0) {
      expect(r.stderr).toContain(text);
      expect(r.stderr.split('\n')[0]).toMatch(/^conclave: /);
      expect(r.stdout).toBe('');
    }
  });

  it('fails with exit 5 and one clear line when no member is reachable', async () => {
    const r = await run(['get', '/', '--endpoints', '127.0.0.1:1', '--timeout-ms', '1500']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^conclave: UNAVAILABLE: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('shows every member in status and member list', async () => {
    const status = await json(['status']);
    expect(status['members']).toEqual([expect.objectContaining({ id: 1, role: 'leader', healthy: true, lag: 0 })]);
    const table = await run(['status']);
    expect(table.stdout).toMatch(/^ID\s+ADDRESS\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+LAG\s+HEALTH\n1\s+127\.0\.0\.1:\d+\s+leader\s/);
    expect(await json(['member', 'list'])).toMatchObject({ leader: 1, members: [{ id: 1, learner: false }] });
  });

  it('prints watch events as they come', async () => {
    const child = spawn(process.execPath, [CLI, 'watch', '/w', '--recursive', '--count', '2'], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // The watch is armed once the command has connected; create until it reports.
    await run(['create', '/w']);
    await until('the watcher to see a change', async () => {
      await run(['set', '/w', `v${Date.now()}`]);
      return out.split('\n').filter(Boolean).length >= 2;
    });
    expect(await exited).toBe(0);
    expect(out.split('\n')[0]).toMatch(/^\d+ (CREATED|CHANGED) \/w$/);
  });

  it('saves a snapshot and inspects it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-cli-'));
    try {
      await run(['create', '/snap', 'x']);
      const file = join(dir, 'backup.db');
      const saved = await json(['snapshot', 'save', file]);
      expect(saved).toMatchObject({ file, index: expect.any(Number), bytes: expect.any(Number) });
      expect((await readFile(file)).length).toBe(saved['bytes']);
      const report = await json(['snapshot', 'inspect', file]);
      expect(report).toMatchObject({ index: saved['index'], voters: [1] });
      expect((report['tables'] as { name: string; rows: number }[]).find((t) => t.name === 'znodes')?.rows).toBeGreaterThanOrEqual(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('restores a backup into a new three-member cluster that serves it and takes writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-restore-'));
    const servers: ServerProcess[] = [];
    try {
      for (let i = 0; i < 5; i++) await run(['create', `/backup-${i}`, `v${i}`]);
      const file = join(dir, 'backup.db');
      const saved = await json(['snapshot', 'save', file]);
      const members: Member[] = [];
      for (let id = 1; id <= 3; id++) members.push({ id, clientPort: await freePort(), peerPort: await freePort() });
      const list = members.map((m) => `${m.id}=127.0.0.1:${m.peerPort}/127.0.0.1:${m.clientPort}`).join(',');
      for (const m of members) {
        const restored = await json(['snapshot', 'restore', file, '--data', join(dir, `m${m.id}`), '--members', list]);
        expect(restored).toMatchObject({ index: saved['index'], voters: [1, 2, 3] });
      }
      const again = await run(['snapshot', 'restore', file, '--data', join(dir, 'm1'), '--members', list]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('not empty');
      const badMembers = await run(['snapshot', 'restore', file, '--data', join(dir, 'mx'), '--members', '1=nope']);
      expect(badMembers.code).toBe(2);
      for (const m of members) servers.push(new ServerProcess(m, join(dir, `m${m.id}`), members));
      await Promise.all(servers.map((s) => s.start()));
      const restoredEnv = members.map((m) => `127.0.0.1:${m.clientPort}`).join(',');
      const c = new TestClient(`127.0.0.1:${members[0]?.clientPort}`);
      try {
        const names = await until('the restored cluster to serve', async () => {
          const r = await c.call('Conclave', 'Children', { path: '/' }).catch(() => undefined);
          return r ? (r['names'] as string[]) : undefined;
        });
        expect(names.filter((n) => n.startsWith('backup-')).sort()).toEqual(['backup-0', 'backup-1', 'backup-2', 'backup-3', 'backup-4']);
        const st = await c.call('Cluster', 'MemberList', {});
        expect((st['members'] as { clientAddress: string }[]).map((m) => m.clientAddress).join(',')).toBe(restoredEnv);
      } finally {
        c.close();
      }
      const write = await run(['create', '/after-restore', '--endpoints', restoredEnv]);
      expect(write.code).toBe(0);
    } finally {
      await Promise.all(servers.map((s) => s.kill()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs as the package bin through npx, with --help for every command', () => {
    const r = spawnSync('npx', ['--no-install', 'conclave', '--help'], { env, encoding: 'utf8', cwd: join(import.meta.dirname, '../..') });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('usage: conclave COMMAND');
    const h = spawnSync(process.execPath, [CLI, 'member', 'add', '--help'], { env, encoding: 'utf8' });
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('usage: conclave member add ID PEER_ADDRESS CLIENT_ADDRESS');
  });
});
