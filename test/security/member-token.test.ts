/** The token the chart's own `conclave k8s` commands act with, beside a member that verifies tokens. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memberToken } from '../../src/cli/k8s-commands.js';
import { verifyToken } from '../../src/security/tokens.js';

describe('memberToken', () => {
  it('prefers CONCLAVE_TOKEN, else mints a short-lived root token from the member\'s secret, else none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-member-token-'));
    try {
      const secret = Buffer.alloc(32, 4);
      await writeFile(join(dir, 'secret'), secret);
      expect(memberToken({ CONCLAVE_TOKEN: 'given', CONCLAVE_AUTH_TOKEN_SECRET_FILE: join(dir, 'secret') })).toBe('given');
      const minted = memberToken({ CONCLAVE_AUTH_TOKEN_SECRET_FILE: join(dir, 'secret') });
      const claims = verifyToken(secret, minted ?? '', Date.now());
      expect(claims.identity).toBe('root');
      expect(claims.expiresAtMs - Date.now()).toBeLessThanOrEqual(10 * 60 * 1000);
      expect(memberToken({})).toBeNull();
      expect(memberToken({ CONCLAVE_AUTH_TOKEN_SECRET_FILE: join(dir, 'missing') })).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
