/**
 * TLS options: the server's flags refuse what cannot work with a message naming the flag, the
 * CLI's flags and environment become the SDK's options, the SDK refuses file names where PEM is
 * due, and `CertificateFiles` takes a rotated set of files but keeps the old one while the new one
 * does not fit together (a key caught mid-rotation).
 */
import { readFileSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { parseServerConfig } from '../../src/server/config.js';
import { CertificateFiles } from '../../src/security/certificate-files.js';
import { cliClientTls, clientChannel } from '../../src/security/tls.js';
import { type TlsFixtures, makeTlsFixtures } from './tls-fixtures.js';

let fx: TlsFixtures;
beforeAll(async () => {
  fx = await makeTlsFixtures();
});
afterAll(async () => {
  await fx?.remove();
});

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err: unknown) {
    if (isConclaveError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('server TLS flags', () => {
  const m1 = (): { cert: string; key: string; peerCert: string; peerKey: string } => fx.cluster.members[0] as never;

  it('turns on client TLS, peer TLS, either or both, and defaults to requiring client certificates when given a CA', () => {
    const plain = parseServerConfig([], {});
    expect(plain.tls).toBeUndefined();
    expect(plain.peerTls).toBeUndefined();
    expect(plain.tlsReloadMs).toBe(5000);
    // TLS turns auth on by default, which needs a way to identify callers (a client CA or tokens).
    expect(() => parseServerConfig(['--tls-cert', m1().cert, '--tls-key', m1().key], {})).toThrow(/no caller could ever be identified.*--auth off/);
    const client = parseServerConfig(['--tls-cert', m1().cert, '--tls-key', m1().key, '--auth', 'off'], {});
    expect(client.tls).toEqual({ certFile: m1().cert, keyFile: m1().key, caFile: undefined, clientAuth: 'none' });
    expect(client.peerTls).toBeUndefined();
    expect(client.auth).toBe(false);
    const both = parseServerConfig(['--tls-cert', m1().cert, '--tls-key', m1().key, '--tls-ca', fx.cluster.ca, '--tls-reload-ms', '50'], {
      CONCLAVE_PEER_TLS_CERT: m1().peerCert,
      CONCLAVE_PEER_TLS_KEY: m1().peerKey,
      CONCLAVE_PEER_TLS_CA: fx.cluster.peerCa,
    });
    expect(both.tls?.clientAuth).toBe('require');
    expect(both.auth).toBe(true);
    expect(both.peerTls).toEqual({ certFile: m1().peerCert, keyFile: m1().peerKey, caFile: fx.cluster.peerCa });
    expect(both.tlsReloadMs).toBe(50);
    expect(parseServerConfig(['--tls-cert', m1().cert, '--tls-key', m1().key, '--tls-ca', fx.cluster.ca, '--tls-client-auth', 'request'], {}).tls?.clientAuth).toBe('request');
  });

  it('refuses combinations and files that cannot work, naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['--tls-key', m1().key], /--tls-key needs --tls-cert/],
      [['--tls-cert', m1().cert], /--tls-cert needs --tls-key/],
      [['--tls-ca', fx.cluster.ca], /--tls-ca needs --tls-cert and --tls-key/],
      [['--tls-cert', m1().cert, '--tls-key', m1().key, '--tls-client-auth', 'require'], /--tls-client-auth require needs --tls-ca/],
      [['--tls-cert', m1().cert, '--tls-key', m1().key, '--tls-client-auth', 'request'], /--tls-client-auth request needs --tls-ca/],
      [['--tls-cert', m1().cert, '--tls-key', m1().key, '--tls-ca', fx.cluster.ca, '--tls-client-auth', 'maybe'], /--tls-client-auth must be none, request, require/],
      [['--tls-cert', join(fx.dir, 'missing.crt'), '--tls-key', m1().key], /--tls-cert .*missing\.crt: cannot read it \(ENOENT\)/],
      [['--tls-cert', m1().cert, '--tls-key', (fx.cluster.members[1] as { key: string }).key], /--tls-key .* does not belong to the certificate in --tls-cert/],
      [['--tls-cert', m1().key, '--tls-key', m1().key], /--tls-cert .* is not a PEM certificate/],
      [['--tls-cert', m1().cert, '--tls-key', m1().key, '--tls-ca', m1().key], /--tls-ca .* is not a PEM certificate/],
      [['--peer-tls-cert', m1().peerCert, '--peer-tls-key', m1().peerKey], /peer TLS is always mutual: --peer-tls-cert and --peer-tls-key need --peer-tls-ca too/],
      [['--peer-tls-ca', fx.cluster.peerCa], /--peer-tls-ca needs --peer-tls-cert and --peer-tls-key too/],
      [['--tls-reload-ms', '0'], /--tls-reload-ms must be an integer ≥ 10/],
    ];
    for (const [argv, message] of cases) {
      const r = refusal(() => parseServerConfig(argv, {}));
      expect(r.code, argv.join(' ')).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(r.message, argv.join(' ')).toMatch(message);
    }
  });
});

describe('CLI and SDK TLS options', () => {
  it('reads the CLI\'s files (flags over CONCLAVE_TLS_*) into PEM options; nothing asked, no TLS', async () => {
    const root = fx.cluster.clients['root'] as { cert: string; key: string };
    expect(cliClientTls({}, {})).toBeUndefined();
    expect(cliClientTls({ tls: true }, {})).toEqual({});
    const fromEnv = cliClientTls({}, { CONCLAVE_TLS_CA: fx.cluster.ca, CONCLAVE_TLS_CERT: root.cert, CONCLAVE_TLS_KEY: root.key, CONCLAVE_TLS_SERVER_NAME: 'localhost' });
    expect(fromEnv).toEqual({ ca: await readFile(fx.cluster.ca), cert: await readFile(root.cert), key: await readFile(root.key), serverName: 'localhost' });
    const flagWins = cliClientTls({ ca: fx.stranger.ca }, { CONCLAVE_TLS_CA: fx.cluster.ca });
    expect(flagWins?.ca).toEqual(await readFile(fx.stranger.ca));
    const cases: [() => unknown, RegExp][] = [
      [() => cliClientTls({ ca: join(fx.dir, 'nope.crt') }, {}), /--tls-ca .*nope\.crt: cannot read it \(ENOENT\)/],
      [() => cliClientTls({ cert: root.cert }, {}), /--tls-cert needs --tls-key/],
      [() => cliClientTls({ key: root.key }, {}), /--tls-key needs --tls-cert/],
      [() => cliClientTls({ cert: root.cert, key: (fx.cluster.clients['client'] as { key: string }).key }, {}), /does not belong to the certificate/],
    ];
    for (const [fn, message] of cases) {
      const r = refusal(fn);
      expect(r.code).toBe(ErrorCode.BAD_ARGUMENTS);
      expect(r.message).toMatch(message);
    }
  });

  it('the SDK takes PEM contents, not file names, and a certificate only with its key', async () => {
    const root = fx.cluster.clients['root'] as { cert: string; key: string };
    expect(clientChannel(undefined).credentials._isSecure()).toBe(false);
    const tls = clientChannel({ ca: await readFile(fx.cluster.ca, 'utf8'), cert: await readFile(root.cert), key: await readFile(root.key), serverName: 'conclave-1' });
    expect(tls.credentials._isSecure()).toBe(true);
    expect(tls.options).toEqual({ 'grpc.ssl_target_name_override': 'conclave-1' });
    const path = refusal(() => clientChannel({ ca: fx.cluster.ca }));
    expect(path).toMatchObject({ code: ErrorCode.BAD_ARGUMENTS });
    expect(path.message).toMatch(/tls\.ca must be PEM contents \(read the file first\)/);
    expect(refusal(() => clientChannel({ cert: readFileSync(root.cert, 'utf8') })).message).toMatch(/tls\.cert and tls\.key go together/);
  });
});

describe('CertificateFiles (reload)', () => {
  it('takes a new set of files that fits together, keeps the old one while it does not, and says so once', async () => {
    const m = fx.cluster.members[0] as { cert: string; key: string };
    const other = fx.stranger.members[0] as { cert: string; key: string };
    const cert = join(fx.dir, 'reload.crt');
    const key = join(fx.dir, 'reload.key');
    await copyFile(m.cert, cert);
    await copyFile(m.key, key);
    const warnings: string[] = [];
    const infos: string[] = [];
    const files = new CertificateFiles({ certFile: cert, keyFile: key }, { prefix: 'tls', reloadMs: 60_000, log: { info: (_o, msg) => infos.push(msg), warn: (o, msg) => warnings.push(`${msg}: ${JSON.stringify(o)}`) } });
    const seen: Buffer[] = [];
    files.addIdentityCertificateListener((u) => u && seen.push(u.certificate));
    expect(await files.reload()).toBe(false); // unchanged: nothing to tell
    // The new certificate lands before its key: refused, the old pair stays in use.
    await copyFile(other.cert, cert);
    expect(await files.reload()).toBe(false);
    expect(await files.reload()).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/does not belong to the certificate/);
    expect(files.current.cert).toEqual(await readFile(m.cert));
    // The key follows: the new pair is taken and the listeners hear of it.
    await copyFile(other.key, key);
    expect(await files.reload()).toBe(true);
    expect(files.current.cert).toEqual(await readFile(other.cert));
    expect(files.reloads).toBe(1);
    expect(infos).toHaveLength(1);
    expect(seen.at(-1)).toEqual(await readFile(other.cert));
    // A key file caught empty (a non-atomic update) changes nothing.
    await writeFile(key, '');
    expect(await files.reload()).toBe(false);
    expect(files.current.key).toEqual(await readFile(other.key));
    files.close();
  });
});
