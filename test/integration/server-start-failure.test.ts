/**
 * A replica that cannot start exits with an error instead of lingering: its client port taken by
 * another process (found by the fault suite, where a member whose port was held stayed up as a
 * zombie and was taken for running, so no spare slot was ever free again).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, until } from './harness.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

describe('a replica that cannot start', () => {
  it('exits non-zero, naming the cause, when its client port is taken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-start-failure-'));
    const holder = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const child = spawn(process.execPath, [CLI, 'server', '--data', dir, '--listen', `127.0.0.1:${port}`, '--peer-listen', `127.0.0.1:${await freePort()}`, '--metrics-listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
      });
      const code = await until('the server process to exit', () => (child.exitCode !== null ? child.exitCode : child.signalCode !== null ? -1 : undefined), 20_000);
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/EADDRINUSE/);
    } finally {
      holder.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
