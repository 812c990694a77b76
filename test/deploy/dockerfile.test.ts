/**
 * The Docker image, checked without a Docker engine: the Dockerfile passes a real linter
 * (dockerfile-utils, fetched by npx), its stages are shaped as the issue asks (build with the
 * toolchain, a runtime stage with production dependencies and compiled JS only, a non-root user,
 * data in a volume, a health check), and its entry point, started exactly as the container would
 * start it (same command, same environment, a fresh data directory) from a copy of the image's
 * /app, becomes ready, passes the HEALTHCHECK command and stops cleanly on SIGTERM.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_OPTIONS } from '../../src/server/config.js';
import { freePort, until } from '../integration/harness.js';
import { REPO, RuntimeTree, imageSpec, productionPackages } from './image.js';

const spec = imageSpec();
const DOCKERFILE_UTILS = 'dockerfile-utils@0.16.3';

function run(cmd: [string, string[]], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd[1], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('the Dockerfile', () => {
  it('passes dockerfile-utils lint with no error or warning', () => {
    const r = spawnSync('npx', ['--yes', DOCKERFILE_UTILS, 'lint', join(REPO, 'Dockerfile')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.error).toBeUndefined();
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('builds in one stage with the native toolchain and runs in another with production packages and compiled JS only', () => {
    expect(spec.stages.length).toBeGreaterThanOrEqual(2);
    const [build] = spec.stages;
    const runtime = spec.runtime;
    const text = (s: typeof runtime): string => s.instructions.map((i) => `${i.keyword} ${i.args}`).join('\n');
    // The build stage has what node-gyp needs for better-sqlite3, compiles, then drops dev packages.
    expect(text(build as typeof runtime)).toMatch(/apt-get install[^\n]*\bpython3\b[^\n]*\bmake\b[^\n]*\bg\+\+/);
    expect(text(build as typeof runtime)).toMatch(/npm ci\b/);
    expect(text(build as typeof runtime)).toMatch(/npm run build && npm prune --omit=dev/);
    // The runtime stage starts from the same base (the addon matches its glibc and Node ABI),
    // installs no toolchain and takes only the pruned node_modules, proto/ and dist/src.
    expect(runtime.from).toBe(build?.from);
    expect(text(runtime)).not.toMatch(/apt-get install|npm (ci|install)|g\+\+/);
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies.every((c) => c.startsWith(`--from=${build?.name}`))).toBe(true);
    expect(copies.map((c) => c.split(/\s+/)[1]).sort()).toEqual(['/src/dist/src', '/src/node_modules', '/src/package.json', '/src/proto']);
  });

  it('runs as a non-root user with its data in a volume and documents its ports and health check', () => {
    const [uid, gid] = spec.user.split(':');
    expect(Number(uid)).toBeGreaterThan(0); // numeric, so Kubernetes' runAsNonRoot can verify it
    expect(Number(gid)).toBeGreaterThan(0);
    const data = spec.env.get('CONCLAVE_DATA') as string;
    expect(spec.volumes.some((v) => data.startsWith(`${v}/`))).toBe(true);
    const ports = ['CONCLAVE_LISTEN', 'CONCLAVE_PEER_LISTEN', 'CONCLAVE_METRICS_LISTEN'].map((k) => Number(spec.env.get(k)?.split(':')[1]));
    expect(spec.exposed.sort()).toEqual(ports.sort());
    // Every CONCLAVE_* variable the image sets is one the server reads.
    const known = new Set(Object.values(SERVER_OPTIONS).map(([env]) => env));
    for (const k of spec.env.keys()) if (k.startsWith('CONCLAVE_')) expect(known, k).toContain(k);
    expect(spec.healthcheck.join(' ')).toContain('/readyz');
    expect(spec.entrypoint).toEqual(['conclave']);
    expect(spec.cmd).toEqual(['server']);
    expect(spec.links.get('/usr/local/bin/conclave')).toBe(`${spec.workdir}/dist/src/cli/main.js`);
  });

  it('keeps the build context small: .dockerignore leaves out local state but not what the build copies', () => {
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const p of ['.git', 'node_modules', 'dist', 'data', 'test']) expect(ignored).toContain(p);
    const copied = spec.stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1)));
    expect(copied.length).toBeGreaterThan(0);
    for (const c of copied) {
      expect(existsSync(join(REPO, c)), c).toBe(true);
      expect(ignored, c).not.toContain(c);
    }
  });

  it('copies into the runtime image only production packages: none of the development ones', () => {
    const prod = new Set(productionPackages());
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const d of Object.keys(pkg.dependencies)) expect(prod).toContain(d);
    for (const d of ['typescript', 'vitest', 'etcd3']) expect(prod).not.toContain(d);
  });
});

describe('the entry point, started as the container starts it', () => {
  let tree: RuntimeTree;
  let volume: string;
  let child: ChildProcess | undefined;
  let log = '';
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    tree = new RuntimeTree(spec);
    volume = mkdtempSync(join(tmpdir(), 'conclave-volume-'));
    // The image's environment, with two changes a test must make: the volume is a fresh temporary
    // folder, and the listeners are on 127.0.0.1 at free ports instead of 0.0.0.0:418x.
    env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() };
    for (const [k, v] of spec.env) env[k] = v;
    for (const vol of spec.volumes) for (const [k, v] of spec.env) if (v.startsWith(`${vol}/`)) env[k] = join(volume, v.slice(vol.length));
    for (const k of ['CONCLAVE_LISTEN', 'CONCLAVE_PEER_LISTEN', 'CONCLAVE_METRICS_LISTEN']) env[k] = `127.0.0.1:${await freePort()}`;
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    tree?.remove();
    if (volume) rmSync(volume, { recursive: true, force: true });
  });

  it('becomes ready, passes its HEALTHCHECK and stops cleanly on SIGTERM', async () => {
    const health = tree.command(spec.healthcheck);
    // Nothing listens yet: the health check fails.
    expect((await run(health, env)).code).not.toBe(0);

    const [exe, args] = tree.command([...spec.entrypoint, ...spec.cmd]);
    expect(args[0]).toBe(join(tree.app, 'dist/src/cli/main.js'));
    const c = spawn(exe, args, { env, cwd: tree.app, stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    await until('the replica to start', () => {
      if (c.exitCode !== null) throw new Error(`the entry point exited ${c.exitCode}: ${log}`);
      return log.includes('conclave replica started');
    });
    const metrics = env['CONCLAVE_METRICS_LISTEN'] as string;
    await until('/readyz to answer 200', async () => (await fetch(`http://${metrics}/readyz`).catch(() => undefined))?.status === 200);
    expect((await fetch(`http://${metrics}/livez`)).status).toBe(200);
    const healthy = await run(health, env);
    expect(healthy.out).toBe('');
    expect(healthy.code).toBe(0);
    // Its data is in the volume's data directory.
    expect(readdirSync(env['CONCLAVE_DATA'] as string).sort()).toEqual(['snap', 'wal']);

    // `docker stop` sends SIGTERM to the entry point: it stops by itself, exit code 0.
    const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toContain('"signal":"SIGTERM"');
    expect((await run(health, env)).code).not.toBe(0);
  });
});
