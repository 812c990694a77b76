/**
 * The noisy neighbour, in a worker thread: its own client (own session, own connection: a worker
 * loads its own copy of every client library) keeping `inflight` puts in flight as fast as the
 * system answers. A thread of its own, so the quiet client's event loop does not run the flood's
 * callbacks; the two still share the machine's cores with the server.
 *
 * Protocol: the worker connects, writes each of its keys once and posts `ready`; then `go` starts
 * the flood, `mark` opens the counted window, `stop` closes it, drains what is in flight, closes
 * the client and posts the `FloodResult`. Anything that fails posts `failed`.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { Adapter } from './adapter.js';
import { runClosedLoop } from './run.js';
import { systemDef, type SystemName } from '../suite/systems.js';

export interface FloodInit {
  system: SystemName;
  endpoints: string[];
  inflight: number;
  keys: number;
  valueBytes: number;
}

export interface FloodResult {
  /** Puts acknowledged between `mark` and `stop`. */
  ops: number;
  seconds: number;
  opsPerSec: number;
  errors: number;
  firstError?: string;
}

export type FloodCommand = 'go' | 'mark' | 'stop';
export type FloodMessage = { type: 'ready' } | { type: 'result'; result: FloodResult } | { type: 'failed'; error: string };

/** Gives up on a flood lane after this many failed puts (the result reports them). */
const MAX_ERRORS = 1000;

export const noisyKey = (i: number) => `noisy/${i}`;

async function main(init: FloodInit): Promise<void> {
  const port = parentPort!;
  const commands: FloodCommand[] = [];
  let wake: (() => void) | undefined;
  port.on('message', (c: FloodCommand) => {
    commands.push(c);
    wake?.();
  });
  const next = async (want: FloodCommand): Promise<void> => {
    for (;;) {
      const c = commands.shift();
      if (c === want) return;
      if (c !== undefined) throw new Error(`flood: expected ${want}, got ${c}`);
      await new Promise<void>((r) => (wake = r));
    }
  };

  const adapter: Adapter = await systemDef(init.system, {}).connect(init.endpoints);
  let result: FloodResult;
  try {
    const value = new Uint8Array(init.valueBytes).fill(0x6e);
    const created = await runClosedLoop({ concurrency: 16, ops: init.keys, op: (i) => adapter.put(noisyKey(i), value) });
    if (created.errors > 0) throw new Error(`creating the noisy keys: ${String(created.firstError)}`);
    port.postMessage({ type: 'ready' } satisfies FloodMessage);
    await next('go');

    let stopped = false;
    let issued = 0;
    let acked = 0;
    let errors = 0;
    let firstError: unknown;
    const lane = async () => {
      while (!stopped && errors < MAX_ERRORS) {
        try {
          await adapter.put(noisyKey(issued++ % init.keys), value);
          acked++;
        } catch (err) {
          errors++;
          firstError ??= err;
        }
      }
    };
    const lanes = Promise.all(Array.from({ length: init.inflight }, lane));
    await next('mark');
    const from = { acked, errors, at: performance.now() };
    await next('stop');
    const to = { acked, errors, at: performance.now() };
    stopped = true;
    await lanes;
    const seconds = (to.at - from.at) / 1000;
    const ops = to.acked - from.acked;
    result = { ops, seconds, opsPerSec: ops / seconds, errors: to.errors - from.errors, ...(firstError === undefined ? {} : { firstError: String(firstError) }) };
  } finally {
    await adapter.close();
  }
  port.postMessage({ type: 'result', result } satisfies FloodMessage);
}

if (parentPort) {
  main(workerData as FloodInit).catch((err: unknown) => parentPort!.postMessage({ type: 'failed', error: String((err as Error)?.stack ?? err) } satisfies FloodMessage));
}
