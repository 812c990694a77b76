/**
 * A config watcher: keep a live local mirror of `/config/<app>` with a `Cache` and react to every
 * change, the main thing configuration users want. With `--demo` it also edits the config itself
 * (as an operator would with `conclave set`) so there is something to see.
 *
 *   npm run example:config-watcher -- [--endpoints 127.0.0.1:4180] [--demo] [--changes N]
 */
import { parseArgs } from 'node:util';
import { Client } from '../src/index.js';

const { values } = parseArgs({ options: { endpoints: { type: 'string', default: '127.0.0.1:4180' }, demo: { type: 'boolean', default: false }, changes: { type: 'string', default: '0' } } });
const root = '/config/shop';
const client = await Client.connect({ endpoints: values.endpoints.split(',') });
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

// The subtree must exist before it is mirrored.
for (const path of ['/config', root]) await client.create(path).catch((err: { code?: string }) => (err.code === 'NODE_EXISTS' ? undefined : Promise.reject(err)));

const cache = client.cache(root);
await cache.ready();
const show = (): string =>
  JSON.stringify(Object.fromEntries([...cache.entries()].filter(([p]) => p !== root).map(([p, e]) => [p.slice(root.length + 1), text(e.data)]).sort()));
console.log(`config: ${show()}`);

const wanted = Number(values.changes);
let seen = 0;
const done = new Promise<void>((resolve) => {
  cache.on('change', (c) => {
    console.log(`${c.type} ${c.path}${c.entry ? ` = ${text(c.entry.data)}` : ''} (zxid ${c.zxid}) -> config: ${show()}`);
    if (wanted > 0 && ++seen >= wanted) resolve();
  });
  process.once('SIGINT', () => resolve());
});

if (values.demo) {
  const path = `${root}/color`;
  await client.create(path, 'blue').catch(() => client.set(path, 'blue'));
  await client.set(path, 'red');
  await client.create(`${root}/currency`, 'EUR').catch(() => client.set(`${root}/currency`, 'EUR'));
  await client.delete(path);
}
await done;
cache.close();
await client.close();
