/**
 * Issue #8's proof with real processes: 20 workers contend for one lock; while holding it each
 * appends records with its token to a shared resource that accepts a token only if ValidateFence
 * says it is the current holder's and it is not older than one already seen. Workers are SIGKILLed
 * and SIGSTOPped (past their session timeout), the leader member is killed, and a later leader is
 * paused past an election timeout during the run.
 * Afterwards the resource's records hold strictly increasing tokens, each token's critical section
 * in one contiguous run: no two critical sections overlap.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, FenceGuard } from '../../src/client/index.js';
import { Client as TestClient, Cluster, until } from '../integration/harness.js';

const WORKER = join(import.meta.dirname, '../../dist/test/locks/fence-worker.js');
const WORKERS = 20;
const RUN_MS = 15_000;
/** How long a paused worker stays stopped: past its 1 s session timeout. */
const WORKER_PAUSE_MS = 1500;

let cluster: Cluster | undefined;
const workers: ChildProcess[] = [];

afterAll(async () => {
  for (const w of workers) {
    w.kill('SIGCONT');
    w.kill('SIGKILL');
  }
  await cluster?.stop();
});

/** `until`, but a timeout names the state of every member (CI failures must be readable afterwards). */
async function explained(what: string, fn: () => Promise<boolean>): Promise<void> {
  try {
    await until(what, fn, 30_000);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${await (cluster as Cluster).describe()}`);
  }
}

/** All members answer Status, agree on one leader, and have applied what that leader had committed. */
async function allCaughtUp(c: Cluster): Promise<boolean> {
  const statuses: Record<string, unknown>[] = [];
  for (const s of c.servers) {
    const client = new TestClient(`127.0.0.1:${s.member.clientPort}`);
    const st = await client.call('Cluster', 'Status', {}, 2000).catch(() => undefined);
    client.close();
    if (!st) return false;
    statuses.push(st);
  }
  const leader = statuses.find((st) => st['role'] === 'leader');
  if (!leader || statuses.some((st) => st['leader'] !== leader['id'])) return false;
  return statuses.every((st) => Number(st['applied']) >= Number(leader['commit']) - 50);
}

describe('fenced locks under faults', () => {
  it('never lets two critical sections overlap at the guarded resource', async () => {
    cluster = await Cluster.start(3, ['--session-timeout-min-ms', '500']);
    await cluster.leader();
    const endpoints = cluster.servers.map((s) => `127.0.0.1:${s.member.clientPort}`).join(',');
    const guard = await Client.connect({ endpoints: endpoints.split(','), requestTimeoutMs: 15_000 });

    // The resource, guarded by the SDK's FenceGuard (check and append are atomic there).
    const records: { token: number; worker: string; phase: string }[] = [];
    let refused = 0;
    const fence = new FenceGuard(guard, 'fenced');
    let chain: Promise<unknown> = Promise.resolve();
    let received = 0;
    const http = createServer((req, res) => {
      received++;
      const q = new URL(req.url ?? '', 'http://x').searchParams;
      const token = Number(q.get('token'));
      const admitted = fence.admit(token, () => void records.push({ token, worker: q.get('worker') ?? '', phase: q.get('phase') ?? '' }));
      chain = admitted;
      void admitted.then((ok) => {
        if (!ok) refused++;
        res.writeHead(ok ? 200 : 409).end();
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
    const port = (http.address() as { port: number }).port;
    const start = (i: number): ChildProcess => {
      const w = spawn(process.execPath, [WORKER, String(i), endpoints, `http://127.0.0.1:${port}/append`], { stdio: 'ignore' });
      workers[i] = w;
      return w;
    };
    for (let i = 0; i < WORKERS; i++) start(i);

    // Twenty processes start, connect and queue; faults begin once the first section is written.
    await until('the first critical section', () => records.length > 0, 60_000);
    const faults: string[] = [];
    const deadline = Date.now() + RUN_MS;
    let round = 0;
    while (Date.now() < deadline || round < 6) {
      await until('some progress', () => records.length > round * 5 || Date.now() > deadline, RUN_MS);
      round++;
      const victim = round % WORKERS;
      if (round % 3 === 0) {
        workers[victim]?.kill('SIGKILL');
        start(victim);
        faults.push(`kill worker ${victim}`);
      } else if (round % 3 === 1) {
        // Paused past its session timeout: its lock goes to another, and its late writes must bounce.
        // The fault is the pause itself: 1.5 s, past the workers' 1 s session timeout.
        const w = workers[victim];
        w?.kill('SIGSTOP');
        await sleep(WORKER_PAUSE_MS);
        w?.kill('SIGCONT');
        faults.push(`pause worker ${victim}`);
      } else if (round === 2) {
        const leader = await cluster.leader();
        await cluster.servers.find((s) => s.member.id === leader)?.kill('SIGKILL');
        await cluster.servers.find((s) => s.member.id === leader)?.start();
        faults.push(`kill leader ${leader}`);
      } else if (round === 5) {
        // A paused leader (a long GC, SIGSTOP): the others elect a new one meanwhile. First every
        // member must be up and caught up, or the pause would leave no quorum (not the fault meant).
        await explained('every member to follow one leader and catch up', () => allCaughtUp(cluster as Cluster));
        const leader = await cluster.leader();
        const child = cluster.servers.find((s) => s.member.id === leader)?.child;
        child?.kill('SIGSTOP');
        const others = cluster.servers.filter((s) => s.member.id !== leader);
        await explained('another member to lead', async () => {
          for (const s of others) {
            const c = new TestClient(`127.0.0.1:${s.member.clientPort}`);
            const st = await c.call('Cluster', 'Status', {}, 2000).catch(() => undefined);
            c.close();
            if (st?.['role'] === 'leader') return true;
          }
          return false;
        });
        child?.kill('SIGCONT');
        faults.push(`pause leader ${leader}`);
      }
    }
    for (const w of workers) w.kill('SIGKILL');
    await chain;
    http.close();
    await guard.close();

    // Tokens never go down, and each token's records are one contiguous run.
    const sections = new Set<number>();
    for (let i = 1; i < records.length; i++) {
      const prev = records[i - 1] as { token: number };
      const cur = records[i] as { token: number };
      expect(cur.token).toBeGreaterThanOrEqual(prev.token);
      if (cur.token !== prev.token) expect(sections.has(cur.token)).toBe(false);
      sections.add(prev.token);
    }
    // One worker per token.
    const owner = new Map<number, string>();
    for (const r of records) {
      expect(owner.get(r.token) ?? r.worker).toBe(r.worker);
      owner.set(r.token, r.worker);
    }
    expect(new Set(records.map((r) => r.token)).size).toBeGreaterThanOrEqual(5);
    expect(faults.some((f) => f.startsWith('kill leader'))).toBe(true);
    expect(faults.some((f) => f.startsWith('pause leader'))).toBe(true);
    console.log(`fencing: ${received} writes, ${records.length} accepted in ${owner.size} critical sections, ${refused} refused; faults: ${faults.join(', ')}`);
  });
});
