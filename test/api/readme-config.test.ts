/** The README's configuration table lists every server option with its environment variable. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_OPTIONS } from '../../src/server/config.js';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
const ROWS = new Map([...README.matchAll(/^\| `--([a-z-]+)` \| `(CONCLAVE_[A-Z_]+)` \|/gm)].map((m) => [m[1] as string, m[2] as string]));

describe('the README configuration table', () => {
  it('documents every option, and only those, with its environment variable', () => {
    expect(new Map([...ROWS].sort())).toEqual(new Map(Object.entries(SERVER_OPTIONS).map(([flag, [env]]) => [flag, env] as [string, string]).sort()));
  });
});
