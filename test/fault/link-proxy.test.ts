/** The fault proxy on its own: passes bytes in order, blackholes them when cut, resets torn connections on heal, delays. */
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../support/until.js';
import { LinkProxy } from './link-proxy.js';

let echo: Server | undefined;
let proxy: LinkProxy | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await proxy?.close();
  await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
});

/** An echo server behind a proxy, and a connected client that collects what comes back. */
async function setUp(): Promise<{ client: Socket; received: () => string; closed: () => boolean }> {
  echo = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => echo?.listen(0, '127.0.0.1', () => resolve()));
  const port = (echo.address() as { port: number }).port;
  proxy = new LinkProxy(1, 2, { host: '127.0.0.1', port }, () => 0.5);
  await proxy.listen();
  const client = createConnection({ host: '127.0.0.1', port: proxy.port });
  sockets.push(client);
  let text = '';
  let isClosed = false;
  client.on('data', (d: Buffer) => void (text += d.toString()));
  client.on('error', () => undefined);
  client.on('close', () => void (isClosed = true));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return { client, received: () => text, closed: () => isClosed };
}

describe('LinkProxy', () => {
  it('passes bytes both ways, in order', async () => {
    const { client, received } = await setUp();
    for (const part of ['a', 'b', 'c']) client.write(part);
    await until('the echo', () => received() === 'abc');
  });

  it('discards everything while down, then resets the torn connection when it heals', async () => {
    const { client, received, closed } = await setUp();
    client.write('1');
    await until('the first echo', () => received() === '1');
    proxy?.set({ down: true });
    client.write('2');
    await until('the proxy to swallow it', () => (proxy?.stats.bytesDiscarded ?? 0) >= 1);
    expect(received()).toBe('1');
    expect(closed()).toBe(false); // a partition does not close anything by itself
    proxy?.heal();
    await until('the torn connection to be reset', () => closed());
    expect(received()).toBe('1');
  });

  it('holds new connections silent while down', async () => {
    await setUp();
    proxy?.set({ down: true });
    const late = createConnection({ host: '127.0.0.1', port: proxy?.port ?? 0 });
    sockets.push(late);
    let got = '';
    late.on('data', (d: Buffer) => void (got += d.toString()));
    late.on('error', () => undefined);
    late.write('x');
    await until('the proxy to swallow it', () => (proxy?.stats.bytesDiscarded ?? 0) >= 1);
    expect(got).toBe('');
  });

  it('delays each direction, keeping order', async () => {
    const { client, received } = await setUp();
    proxy?.set({ delayMs: 100 });
    const started = performance.now();
    client.write('x');
    client.write('y');
    await until('the delayed echo', () => received() === 'xy');
    expect(performance.now() - started).toBeGreaterThanOrEqual(190); // 100 ms there, 100 ms back
  });

  it('resets connections when lossy', async () => {
    const { client, closed } = await setUp();
    proxy?.set({ resetChance: 1 });
    client.write('x');
    await until('the reset', () => closed());
    expect(proxy?.stats.resets).toBe(1);
  });
});
