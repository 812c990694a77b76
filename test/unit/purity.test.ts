import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '../../scripts/check-purity.mjs');
const scratch = mkdtempSync(join(tmpdir(), 'conclave-purity-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function check(root?: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, root ? [script, root] : [script], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('the pure core stays pure', () => {
  it('src/raft has no clocks, timers, randomness, I/O or async', () => {
    const r = check();
    expect(r.output).toContain("free of clocks");
    expect(r.output).toContain("src/common, src/raft, src/state");
    expect(r.status).toBe(0);
  });

  const planted: ReadonlyArray<[string, string]> = [
    ['Date.now', 'export const t = Date.now();'],
    ['Math.random', 'export const r = Math.random();'],
    ['setTimeout', 'setTimeout(() => undefined, 1);'],
    ['setInterval', 'setInterval(() => undefined, 1);'],
    ['performance.now', 'export const p = performance.now();'],
    ['process.hrtime', 'export const h = process.hrtime.bigint();'],
    ['fs import', "import { readFileSync } from 'node:fs';"],
    ['net import', "import * as net from 'net';"],
    ['async function', 'export async function f() { return 1; }'],
    ['await', 'const x = await Promise.resolve(1);'],
  ];
  for (const [what, line] of planted) {
    it(`rejects ${what} under src/raft`, () => {
      const root = join(scratch, what.replace(/\W/g, '_'));
      mkdirSync(join(root, 'src/raft'), { recursive: true });
      writeFileSync(join(root, 'src/raft/bad.ts'), `// a comment mentioning Date.now is fine\n${line}\n`);
      const r = check(root);
      expect(r.status).toBe(1);
      expect(r.output).toContain('src/raft/bad.ts:2');
    });
  }
});
