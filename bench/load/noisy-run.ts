/**
 * The two sides of the noisy-neighbour benchmark (bench/noisy-neighbor.ts): the quiet client, one
 * small put or linearizable get at a time, and the flood, a worker thread with its own client
 * (flood-worker.ts), driven from here.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Adapter } from './adapter.js';
import type { FloodCommand, FloodInit, FloodMessage, FloodResult } from './flood-worker.js';
import { Latencies } from './histogram.js';

export interface QuietResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same split by kind: puts and linearizable gets alternate. */
  putP99Ms: number;
  getP99Ms: number;
  errors: number;
  firstError?: string;
}

/**
 * For `ms`: put `value` to `key`, then a linearizable get of it, and again; one at a time, every
 * latency recorded. Gives up after 100 failed operations.
 */
export async function runQuiet(adapter: Adapter, key: string, value: Uint8Array, ms: number): Promise<QuietResult> {
  const all = new Latencies();
  const puts = new Latencies();
  const gets = new Latencies();
  let errors = 0;
  let firstError: unknown;
  const t0 = performance.now();
  const deadline = t0 + ms;
  for (let i = 0; performance.now() < deadline && errors < 100; i++) {
    const start = performance.now();
    try {
      if (i % 2 === 0) await adapter.put(key, value);
      else await adapter.get(key, { linearizable: true });
      const took = performance.now() - start;
      all.record(took);
      (i % 2 === 0 ? puts : gets).record(took);
    } catch (err) {
      errors++;
      firstError ??= err;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    ops: all.count,
    seconds,
    opsPerSec: all.count / seconds,
    p50Ms: all.percentile(50),
    p99Ms: all.percentile(99),
    maxMs: all.percentile(100),
    putP99Ms: puts.percentile(99),
    getP99Ms: gets.percentile(99),
    errors,
    ...(firstError === undefined ? {} : { firstError: String(firstError) }),
  };
}

/** The flood's worker, once it has connected and written its keys. */
export class Flood {
  private readonly messages: FloodMessage[] = [];
  private wake: (() => void) | undefined;
  private exited: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FloodMessage) => this.push(m));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`flood worker exited (${code})`)));
  }

  static async start(init: FloodInit): Promise<Flood> {
    const flood = new Flood(new Worker(new URL('./flood-worker.js', import.meta.url), { workerData: init }));
    try {
      await flood.expect('ready');
    } catch (err) {
      await flood.worker.terminate();
      throw err;
    }
    return flood;
  }

  /** Starts the flood. */
  go(): void {
    this.send('go');
  }

  /** Opens the window whose acknowledged puts count. */
  mark(): void {
    this.send('mark');
  }

  /** Closes the window and waits for the worker to drain and close its client. */
  async stop(): Promise<FloodResult> {
    this.send('stop');
    try {
      const m = await this.expect('result');
      if (m.type !== 'result') throw new Error('unreachable');
      return m.result;
    } finally {
      await this.worker.terminate();
    }
  }

  private send(c: FloodCommand): void {
    this.worker.postMessage(c);
  }

  private push(m: FloodMessage): void {
    this.messages.push(m);
    this.wake?.();
  }

  private fail(err: Error): void {
    this.exited ??= err;
    this.wake?.();
  }

  private async expect(type: FloodMessage['type']): Promise<FloodMessage> {
    for (;;) {
      const m = this.messages.shift();
      if (m?.type === 'failed') throw new Error(`flood worker: ${m.error}`);
      if (m?.type === type) return m;
      if (m !== undefined) throw new Error(`flood worker: expected ${type}, got ${m.type}`);
      if (this.exited) throw this.exited;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/** `conclave_throttled_requests_total` summed over its labels, from a member's metrics port. */
export async function scrapeThrottled(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  let sum = 0;
  for (const m of (await res.text()).matchAll(/^conclave_throttled_requests_total(?:\{[^}]*\})?\s+(\S+)$/gm)) sum += Number(m[1]);
  return sum;
}
