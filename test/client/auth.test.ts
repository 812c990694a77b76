/**
 * The SDK against a server with auth on: the `token` option (a string or a function) on the
 * session stream and on unary calls, UNAUTHENTICATED at once without a valid one (not a connect
 * timeout), and the Access helpers (ACLs, quotas, whoAmI, mintToken) round-tripping.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { mintToken } from '../../src/security/tokens.js';
import { Fixture, endpointsOf } from './support.js';

const SECRET = Buffer.alloc(36, 0x61);
const token = (identity: string): string => mintToken(SECRET, identity, 600_000, Date.now());
const fx = new Fixture();
let dir: string;

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err: unknown) {
    if (isConclaveError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conclave-sdk-auth-'));
  await writeFile(join(dir, 'secret'), SECRET);
  await fx.startShared(1, ['--auth', 'on', '--auth-token-secret-file', join(dir, 'secret')]);
}, 60_000);

afterEach(() => fx.cleanUp());

afterAll(async () => {
  await fx.stopShared();
  await rm(dir, { recursive: true, force: true });
});

describe('Client token', () => {
  it('authenticates the session stream and unary calls with a token', async () => {
    const c = await fx.client(fx.shared, { token: token('root') });
    await c.create('/tok', 'v');
    expect(new TextDecoder().decode((await c.get('/tok')).data)).toBe('v');
    expect((await c.status()).role).toBe('leader');
    expect(await c.whoAmI()).toEqual({ authEnabled: true, identity: 'root', via: 'token', permissions: [] });
    await c.delete('/tok');
  });

  it('takes a function, asked again for every call', async () => {
    let asked = 0;
    const c = await fx.client(fx.shared, {
      token: () => {
        asked++;
        return token('root');
      },
    });
    const before = asked;
    await c.whoAmI();
    await c.whoAmI();
    expect(asked).toBe(before + 2);
  });

  it('fails to connect with UNAUTHENTICATED, at once, without a token or with a bad one', async () => {
    const started = performance.now();
    expect(await refusal(Client.connect({ endpoints: endpointsOf(fx.shared), connectTimeoutMs: 20_000 }))).toBe(ErrorCode.UNAUTHENTICATED);
    const otherSecret = mintToken(Buffer.alloc(36, 0x62), 'root', 60_000, Date.now());
    expect(await refusal(Client.connect({ endpoints: endpointsOf(fx.shared), connectTimeoutMs: 20_000, token: otherSecret }))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  it('refuses a token that cannot be a header value before connecting', async () => {
    expect(await refusal(Client.connect({ endpoints: endpointsOf(fx.shared), token: 'two words' }))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(await refusal(Client.connect({ endpoints: endpointsOf(fx.shared), token: '' }))).toBe(ErrorCode.BAD_ARGUMENTS);
  });
});

describe('Client access helpers', () => {
  it('round-trip ACLs, quotas, whoAmI and mintToken, and the grants take effect', async () => {
    const root = await fx.client(fx.shared, { token: token('root') });
    await root.create('/svc');
    const set = await root.setAcl('/svc', [
      { identity: 'svc-a', permissions: ['create', 'read'] },
      { identity: '*', permissions: ['read'] },
    ]);
    expect(set).toMatchObject({ path: '/svc', exists: true });
    expect(set.grants).toEqual(expect.arrayContaining([{ identity: 'svc-a', permissions: ['read', 'create'] }, { identity: '*', permissions: ['read'] }]));
    expect((await root.getAcl('/svc')).grants).toEqual(set.grants);
    expect((await root.listAcls()).acls.map((a) => a.path)).toContain('/svc');

    const q = await root.setQuota('/svc', { maxNodes: 3 });
    expect(q).toMatchObject({ path: '/svc', exists: true, maxNodes: 3, nodes: 1, bytes: 0 });
    expect(q.maxBytes).toBeUndefined();
    expect((await root.listQuotas()).quotas).toEqual([expect.objectContaining({ path: '/svc', maxNodes: 3 })]);
    expect(await refusal(root.setQuota('/svc', {}))).toBe(ErrorCode.BAD_ARGUMENTS);

    const minted = await root.mintToken('svc-a', 60_000);
    expect(minted.expiresAtMs).toBeGreaterThan(Date.now());
    const svcA = await fx.client(fx.shared, { token: minted.token });
    expect(await svcA.whoAmI('/svc/x')).toMatchObject({ identity: 'svc-a', via: 'token', permissions: ['read', 'create'] });
    await svcA.create('/svc/a');
    await svcA.create('/svc/b');
    expect(await refusal(svcA.create('/svc/c'))).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(await refusal(svcA.set('/svc/a', 'x'))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(await refusal(svcA.setAcl('/svc', [{ identity: 'svc-a', permissions: ['admin'] }]))).toBe(ErrorCode.PERMISSION_DENIED);
    expect(await refusal(svcA.mintToken('root', 60_000))).toBe(ErrorCode.PERMISSION_DENIED);
    expect((await root.getQuota('/svc')).nodes).toBe(3);

    expect((await root.removeQuota('/svc')).zxid).toBeGreaterThan(0);
    expect((await root.getQuota('/svc')).exists).toBe(false);
    expect((await root.removeAcl('/svc')).zxid).toBeGreaterThan(0);
    expect(await root.getAcl('/svc')).toMatchObject({ exists: false, grants: [] });
    expect(await refusal(root.removeAcl('/svc'))).toBe(ErrorCode.NO_NODE);
    expect(await refusal(svcA.get('/svc'))).toBe(ErrorCode.PERMISSION_DENIED);
    await root.delete('/svc', { recursive: true });
  });
});
