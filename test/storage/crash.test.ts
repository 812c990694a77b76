/**
 * Crash test with real processes: a single-node log is driven hard by 16 concurrent proposers and
 * killed with SIGKILL at random moments, dozens of times. After every kill the durable log must
 * hold every acknowledged value at its acknowledged index, and the values must be in proposal
 * order with no duplicates (nothing unacknowledged appears out of order).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/common/rng.js';

const ROOT = join(import.meta.dirname, '../..');
const CHILD = join(ROOT, 'dist/test/storage/crash-child.js');
const KILLS = 30;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'conclave-crash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function dump(): Map<number, number> {
  const r = spawnSync(process.execPath, [CHILD, 'dump', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dump failed (${r.status}): ${r.stderr}`);
  const parsed = JSON.parse(r.stdout) as { values: [number, number][] };
  return new Map(parsed.values);
}

/** Run the writer until it has acknowledged `acksWanted` more values (or a deadline), then SIGKILL it. */
function runAndKill(acked: Map<number, number>, acksWanted: number, extraDelayMs: number): Promise<{ acks: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CHILD, 'run', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    let stderr = '';
    let acks = 0;
    let killing = false;
    const kill = (): void => {
      if (killing) return;
      killing = true;
      setTimeout(() => child.kill('SIGKILL'), extraDelayMs);
    };
    const deadline = setTimeout(kill, 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ack (\d+) (\d+)$/.exec(line);
        if (!m) continue;
        // A restarted writer re-applies (and re-acknowledges) what was durable; count only new ones.
        if (!acked.has(Number(m[1]))) acks++;
        acked.set(Number(m[1]), Number(m[2]));
      }
      if (acks >= acksWanted) kill();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(deadline);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited on its own (${code}, ${signal}): ${stderr}`));
      else resolve({ acks, stderr });
    });
  });
}

describe('crash safety with real processes', () => {
  it(`loses no acknowledged write over ${KILLS} SIGKILLs at random moments`, async () => {
    const rng = new SeededRng(20261125);
    const acked = new Map<number, number>();
    let totalAcks = 0;
    for (let round = 1; round <= KILLS; round++) {
      const { acks } = await runAndKill(acked, rng.int(1, 2000), rng.int(0, 40));
      totalAcks += acks;
      const durable = dump();
      for (const [index, value] of acked) {
        expect(durable.get(index), `round ${round}: acknowledged value ${value} at index ${index}`).toBe(value);
      }
      let previous = 0;
      for (const [index, value] of [...durable.entries()].sort((a, b) => a[0] - b[0])) {
        expect(value, `round ${round}: value at index ${index} out of order`).toBeGreaterThan(previous);
        previous = value;
      }
    }
    expect(totalAcks).toBe(acked.size);
    expect(totalAcks).toBeGreaterThan(KILLS);
    console.log(`crash test: ${KILLS} kills, ${totalAcks} acknowledged writes, all durable`);
  }, 240_000);
});
