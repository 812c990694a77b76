/**
 * A worker pool sharing a counter: every worker increments `/pool/counter` with an optimistic
 * compare-and-set (read the version, write only at that version, retry on BAD_VERSION), so no
 * increment is lost however the workers interleave.
 *
 *   npm run example:worker-pool -- [--endpoints 127.0.0.1:4180] [--workers 4] [--increments 25]
 */
import { parseArgs } from 'node:util';
import { Client, ErrorCode, isConclaveError } from '../src/index.js';

const { values } = parseArgs({ options: { endpoints: { type: 'string', default: '127.0.0.1:4180' }, workers: { type: 'string', default: '4' }, increments: { type: 'string', default: '25' } } });
const endpoints = values.endpoints.split(',');
const path = '/pool/counter';

const setup = await Client.connect({ endpoints });
await setup.create('/pool').catch((err: unknown) => (isConclaveError(err, ErrorCode.NODE_EXISTS) ? undefined : Promise.reject(err)));
await setup.create(path, '0').catch(() => setup.set(path, '0'));

async function worker(id: number): Promise<number> {
  const client = await Client.connect({ endpoints });
  let conflicts = 0;
  for (let i = 0; i < Number(values.increments); i++) {
    for (;;) {
      const { data, stat } = await client.get(path);
      try {
        await client.set(path, String(Number(new TextDecoder().decode(data)) + 1), { version: stat.version });
        break;
      } catch (err: unknown) {
        if (!isConclaveError(err, ErrorCode.BAD_VERSION)) throw err;
        conflicts++; // another worker got there first: read again
      }
    }
  }
  await client.close();
  console.log(`worker ${id} done (${conflicts} retries)`);
  return conflicts;
}

await Promise.all(Array.from({ length: Number(values.workers) }, (_, i) => worker(i + 1)));
const final = new TextDecoder().decode((await setup.get(path)).data);
console.log(`counter = ${final} (expected ${Number(values.workers) * Number(values.increments)})`);
await setup.close();
