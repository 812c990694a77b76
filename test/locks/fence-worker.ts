/**
 * A worker for the fencing test (run as its own process): forever, take the lock, tell the guarded
 * resource "enter", do three writes, "exit", release. Every write carries the lock's token; the
 * resource decides. A lost session or a refused write just starts over with a new client.
 *
 *   node dist/test/locks/fence-worker.js ID ENDPOINTS RESOURCE_URL
 */
import { Client } from '../../src/client/index.js';

const [id, endpoints, resource] = process.argv.slice(2) as [string, string, string];

async function post(token: number, phase: string): Promise<boolean> {
  const res = await fetch(`${resource}?token=${token}&worker=${id}&phase=${phase}`, { method: 'POST' });
  return res.status === 200;
}

async function session(): Promise<void> {
  const client = await Client.connect({ endpoints: endpoints.split(','), sessionTimeoutMs: 1000, requestTimeoutMs: 5000 });
  try {
    for (;;) {
      const lock = await client.lock('fenced', { timeoutMs: 30_000 });
      let ok = await post(lock.token, 'enter');
      for (let i = 0; ok && i < 3; i++) ok = await post(lock.token, `work${i}`);
      if (ok) ok = await post(lock.token, 'exit');
      if (lock.lost) return;
      await lock.release();
    }
  } finally {
    await client.close().catch(() => undefined);
  }
}

for (;;) {
  await session().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 50));
}
