/**
 * TLS end to end, with certificates from `conclave certs dev`'s functions: real `conclave server`
 * processes with client and peer TLS, the SDK and the CLI as clients. The client port refuses, at
 * the handshake, clients that do not trust its CA or lack a valid certificate from the client CA;
 * members talk over mutual TLS and a peer without a certificate from the peer CA gets nothing in;
 * a certificate replaced on disk reaches new connections without a restart.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { loadApi } from '../../src/api/proto.js';
import { Admin } from '../../src/cli/admin.js';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { MessageType as MT, type Message, type NodeId } from '../../src/raft/index.js';
import { CertificateFiles } from '../../src/security/certificate-files.js';
import type { DevCerts } from '../../src/security/dev-certs.js';
import { type ClientTlsOptions, clientChannel, peerChannelCredentials, peerServerCredentials } from '../../src/security/tls.js';
import { GrpcPeerTransport, type PeerCredentials } from '../../src/transport/grpc-transport.js';
import { type Member, ServerProcess, freePort, until } from '../integration/harness.js';
import { type TlsFixtures, makeTlsFixtures, sdkTls } from './tls-fixtures.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

let fx: TlsFixtures;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  fx = await makeTlsFixtures();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await fx?.remove();
});

function memberOf(certs: DevCerts, id: number): DevCerts['members'][number] {
  const m = certs.members.find((x) => x.id === id);
  if (!m) throw new Error(`no certificates for member ${id}`);
  return m;
}

/** Client and peer TLS flags for member `id`, client certificates required. */
function tlsArgs(id: number, clientAuth = 'require'): string[] {
  const m = memberOf(fx.cluster, id);
  return ['--tls-cert', m.cert, '--tls-key', m.key, '--tls-ca', fx.cluster.ca, '--tls-client-auth', clientAuth, '--peer-tls-cert', m.peerCert, '--peer-tls-key', m.peerKey, '--peer-tls-ca', fx.cluster.peerCa];
}

async function startMembers(size: number, args: (id: number) => string[]): Promise<ServerProcess[]> {
  const members: Member[] = [];
  for (let id = 1; id <= size; id++) members.push({ id, clientPort: await freePort(), peerPort: await freePort() });
  const servers: ServerProcess[] = [];
  for (const m of members) {
    const dir = await mkdtemp(join(tmpdir(), `conclave-tls-${m.id}-`));
    const s = new ServerProcess(m, dir, members, args(m.id));
    servers.push(s);
    cleanups.push(async () => {
      await s.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });
  }
  await Promise.all(servers.map((s) => s.start()));
  return servers;
}

const endpoint = (s: ServerProcess): string => `127.0.0.1:${s.member.clientPort}`;

const rootTls = (): ClientTlsOptions => sdkTls({ ca: fx.cluster.ca, ...fx.cluster.clients['root'] });

/** Why Client.connect failed (it must fail). */
async function connectError(endpoints: readonly string[], tls: ClientTlsOptions | undefined, connectTimeoutMs = 1500): Promise<{ code: string; message: string }> {
  const outcome = await Client.connect({ endpoints, connectTimeoutMs, ...(tls ? { tls } : {}) }).then(
    async (c) => {
      await c.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  if (!isConclaveError(outcome)) throw new Error(`expected the connection to be refused, got ${String(outcome)}`);
  return { code: outcome.code, message: outcome.message };
}

/**
 * The gRPC status of a plain `Cluster/Status` call: OK (0), or UNAVAILABLE when the connection
 * is refused at the handshake (a call refused by a handler would end otherwise, e.g. UNAUTHENTICATED).
 */
function statusCall(address: string, tls: ClientTlsOptions | undefined): Promise<{ code: number; details: string }> {
  const { credentials, options } = clientChannel(tls);
  const api = loadApi();
  const client = new api.Cluster(address, credentials, { ...options, 'grpc.use_local_subchannel_pool': 1 });
  return new Promise((resolve) => {
    (client as unknown as { Status(r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void): void }).Status({}, { deadline: Date.now() + 5000 }, (err) => {
      client.close();
      resolve({ code: err ? err.code : grpc.status.OK, details: err ? err.details : '' });
    });
  });
}

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('the client port', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    [server] = (await startMembers(1, (id) => tlsArgs(id))) as [ServerProcess];
  });

  it('serves a client that trusts its CA and presents a certificate from the client CA', async () => {
    await using client = await Client.connect({ endpoints: [endpoint(server)], tls: rootTls() });
    await client.create('/tls', 'over TLS');
    expect(Buffer.from((await client.get('/tls')).data).toString()).toBe('over TLS');
  });

  it('refuses at the handshake: a client trusting another CA, without a certificate, with one from another CA, with an expired one', async () => {
    const ca = fx.cluster.ca;
    const [wrongCa, noCert, strangerCert, expired, plaintext] = await Promise.all([
      connectError([endpoint(server)], sdkTls({ ca: fx.stranger.ca, ...fx.cluster.clients['root'] })),
      connectError([endpoint(server)], sdkTls({ ca })),
      connectError([endpoint(server)], sdkTls({ ca, ...fx.stranger.clients['root'] })),
      connectError([endpoint(server)], sdkTls({ ca, ...fx.expired })),
      connectError([endpoint(server)], undefined),
    ]);
    for (const e of [wrongCa, noCert, strangerCert, expired, plaintext]) expect(e.code).toBe(ErrorCode.UNAVAILABLE);
    expect(wrongCa.message).toMatch(/certificate/i); // the client's own check of the server's certificate
    // Refused by TLS, before any handler (which would answer, e.g. UNAUTHENTICATED): the call
    // never gets a status from the server.
    const root = fx.cluster.clients['root'] as { cert: string; key: string };
    expect(await statusCall(endpoint(server), sdkTls({ ca, ...root }))).toEqual({ code: grpc.status.OK, details: '' });
    for (const tls of [sdkTls({ ca: fx.stranger.ca, ...root }), sdkTls({ ca }), sdkTls({ ca, ...fx.stranger.clients['root'] }), sdkTls({ ca, ...fx.expired }), undefined]) {
      const r = await statusCall(endpoint(server), tls);
      expect(r.code, r.details).toBe(grpc.status.UNAVAILABLE);
      expect(r.details).toMatch(/No connection established|Failed to connect|certificate|alert|closed/i);
    }
    // Still serving the right client.
    await using client = await Client.connect({ endpoints: [endpoint(server)], tls: rootTls() });
    expect((await client.exists('/tls')).stat).toBeDefined();
  });

  it('the CLI connects with --tls-ca/--tls-cert/--tls-key or CONCLAVE_TLS_*, for the SDK and for Admin calls', async () => {
    const root = fx.cluster.clients['root'] as { cert: string; key: string };
    const flags = ['--endpoints', endpoint(server), '--tls-ca', fx.cluster.ca, '--tls-cert', root.cert, '--tls-key', root.key];
    expect(await cli(['get', '/tls', ...flags])).toEqual({ code: 0, stdout: 'over TLS', stderr: '' });
    const env = { CONCLAVE_ENDPOINTS: endpoint(server), CONCLAVE_TLS_CA: fx.cluster.ca, CONCLAVE_TLS_CERT: root.cert, CONCLAVE_TLS_KEY: root.key };
    const status = await cli(['status', '--json'], env);
    expect(status.stderr).toBe('');
    expect(JSON.parse(status.stdout)).toMatchObject({ members: [{ id: 1, reachable: true, role: 'leader' }] });
    const noCert = await cli(['get', '/tls', '--endpoints', endpoint(server), '--tls-ca', fx.cluster.ca, '--timeout-ms', '1500']);
    expect(noCert.code).toBe(5);
    expect(noCert.stderr).toMatch(/^conclave: UNAVAILABLE: no member of .* opened a session/);
    expect(noCert.stderr).not.toMatch(/DeprecationWarning/);
    const badFile = await cli(['get', '/tls', ...flags.slice(0, 2), '--tls-ca', join(fx.dir, 'nope.crt')]);
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toMatch(/^conclave: BAD_ARGUMENTS: --tls-ca .*nope\.crt: cannot read it/);
  });

  it('conclave server refuses TLS flags that cannot work, with exit code 2', async () => {
    const m = memberOf(fx.cluster, 1);
    const r = await cli(['server', '--data', join(fx.dir, 'never'), '--tls-cert', m.cert, '--tls-key', m.key, '--tls-client-auth', 'require']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^conclave server: INVALID_ARGUMENT: --tls-client-auth require needs --tls-ca/);
  });
});

describe('the peer port', () => {
  it('three members with mutual TLS elect a leader and replicate; a stranger cannot reach their peer ports', async () => {
    const servers = await startMembers(3, (id) => tlsArgs(id));
    const endpoints = servers.map(endpoint);
    await using client = await Client.connect({ endpoints, tls: rootTls() });
    const { zxid } = await client.create('/replicated', 'everywhere');
    const admin = new Admin(endpoints, 2000, { tls: rootTls() });
    cleanups.push(() => admin.close());
    const statuses = await until('every member to apply the write', async () => {
      const all = await Promise.all(endpoints.map((e) => admin.status(e).catch(() => undefined)));
      return all.every((s) => s !== undefined && s.zxid >= zxid) && all;
    });
    expect(new Set(statuses.map((s) => s && s.leader)).size).toBe(1);
    expect(statuses.filter((s) => s?.role === 'leader')).toHaveLength(1);
    expect(new Set(statuses.map((s) => s && s.digest)).size).toBe(1);

    // A process with a peer certificate from another CA dials member 1's peer port: refused.
    const stranger = await peerTransport(9, fx.stranger, 1);
    const unreachable: NodeId[] = [];
    stranger.onUnreachable((p) => unreachable.push(p));
    stranger.setPeers(new Map([[1, `127.0.0.1:${(servers[0] as ServerProcess).member.peerPort}`]]));
    stranger.send([{ type: MT.Heartbeat, from: 9, to: 1, term: 1_000 }]);
    await until('the stranger to find member 1 unreachable', () => unreachable.includes(1));
    expect(servers.every((s) => s.child?.exitCode === null)).toBe(true);
  });

  it('a peer without a certificate from the peer CA gets nothing delivered, in either direction', async () => {
    const b = await peerTransport(2, fx.cluster, 2);
    const a = await peerTransport(1, fx.cluster, 1);
    const got: Message[] = [];
    b.onMessage((m) => got.push(m));
    const strangerCa = await peerTransport(9, fx.stranger, 1);
    const noCert = await GrpcPeerTransport.start({ id: 8, listen: '127.0.0.1:0', credentials: { server: grpc.ServerCredentials.createInsecure(), channel: grpc.credentials.createSsl(await readFile(fx.cluster.peerCa)) } });
    const plaintext = await GrpcPeerTransport.start({ id: 7, listen: '127.0.0.1:0' });
    cleanups.push(() => noCert.close(), () => plaintext.close());
    const unreachable: string[] = [];
    for (const t of [strangerCa, noCert, plaintext]) {
      t.onUnreachable((p) => unreachable.push(`${t.id}>${p}`));
      t.setPeers(new Map([[2, `127.0.0.1:${b.port}`]]));
      t.send([{ type: MT.Heartbeat, from: t.id, to: 2, term: 1_000 }]);
    }
    await until('every stranger to be refused', () => unreachable.includes('9>2') && unreachable.includes('8>2') && unreachable.includes('7>2'));
    // A member dialing the stranger refuses the stranger's server certificate too.
    const strangerGot: Message[] = [];
    strangerCa.onMessage((m) => strangerGot.push(m));
    const bUnreachable: NodeId[] = [];
    b.onUnreachable((p) => bUnreachable.push(p));
    b.setPeers(new Map([[9, `127.0.0.1:${strangerCa.port}`]]));
    b.send([{ type: MT.Heartbeat, from: 2, to: 9, term: 1 }]);
    await until('member 2 to refuse the stranger', () => bUnreachable.includes(9));
    // The member with the right certificate gets through; it is the only one.
    a.setPeers(new Map([[2, `127.0.0.1:${b.port}`]]));
    a.send([{ type: MT.Heartbeat, from: 1, to: 2, term: 1 }]);
    await until('the member\'s heartbeat', () => got.length > 0);
    expect(got.map((m) => m.from)).toEqual([1]);
    expect(strangerGot).toEqual([]);
    expect(b.stats.batchesReceived).toBe(1);
  });
});

describe('certificate reload', () => {
  it('a client-port certificate replaced on disk (from a new CA) reaches new connections without a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-tls-reload-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    await copyFile(memberOf(fx.cluster, 1).cert, cert);
    await copyFile(memberOf(fx.cluster, 1).key, key);
    // The client CA stays; the server's own certificate moves to a new CA.
    const [server] = (await startMembers(1, () => ['--tls-cert', cert, '--tls-key', key, '--tls-ca', fx.cluster.ca, '--tls-reload-ms', '100'])) as [ServerProcess];
    const root = fx.cluster.clients['root'] as { cert: string; key: string };
    const trustsOld = sdkTls({ ca: fx.cluster.ca, ...root });
    const trustsNew = sdkTls({ ca: fx.stranger.ca, ...root });
    {
      await using client = await Client.connect({ endpoints: [endpoint(server)], tls: trustsOld });
      await client.create('/before', '');
    }
    expect((await connectError([endpoint(server)], trustsNew)).message).toMatch(/certificate/i);
    // Rotate: each file replaced whole (a rename, as a Kubernetes Secret update does).
    for (const [from, to] of [
      [memberOf(fx.stranger, 1).key, key],
      [memberOf(fx.stranger, 1).cert, cert],
    ] as const) {
      await copyFile(from, `${to}.new`);
      await rename(`${to}.new`, to);
    }
    const client = await until(
      'a client that trusts only the new CA to connect',
      () => Client.connect({ endpoints: [endpoint(server)], tls: trustsNew, connectTimeoutMs: 1000 }).catch(() => undefined),
      15_000,
    );
    try {
      expect((await client.exists('/before')).stat).toBeDefined();
    } finally {
      await client.close();
    }
    expect((await connectError([endpoint(server)], trustsOld)).message).toMatch(/certificate/i);
    expect(server.child?.exitCode).toBeNull();
    expect(server.log).toMatch(/tls: certificate files changed; new connections use them/);
  });

  it('a peer-port certificate replaced on disk admits peers of the new CA without a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conclave-tls-reload-peer-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const files = { certFile: join(dir, 'peer.crt'), keyFile: join(dir, 'peer.key'), caFile: join(dir, 'ca.crt') };
    const install = async (certs: DevCerts): Promise<void> => {
      for (const [from, to] of [
        [memberOf(certs, 2).peerKey, files.keyFile],
        [memberOf(certs, 2).peerCert, files.certFile],
        [certs.peerCa, files.caFile],
      ] as const) {
        await copyFile(from, `${to}.new`);
        await rename(`${to}.new`, to);
      }
    };
    await install(fx.cluster);
    const watched = new CertificateFiles(files, { prefix: 'peer-tls', reloadMs: 100 });
    cleanups.push(() => watched.close());
    const b = await GrpcPeerTransport.start({ id: 2, listen: '127.0.0.1:0', credentials: credentialsOf(watched) });
    cleanups.push(() => b.close());
    const got: Message[] = [];
    b.onMessage((m) => got.push(m));
    const newcomer = await peerTransport(1, fx.stranger, 1);
    newcomer.setPeers(new Map([[2, `127.0.0.1:${b.port}`]]));
    const refused: NodeId[] = [];
    newcomer.onUnreachable((p) => refused.push(p));
    newcomer.send([{ type: MT.Heartbeat, from: 1, to: 2, term: 1 }]);
    await until('the newcomer to be refused under the old CA', () => refused.length > 0);
    expect(got).toEqual([]);
    await install(fx.stranger);
    await until('the newcomer\'s heartbeat under the new CA', () => {
      newcomer.send([{ type: MT.Heartbeat, from: 1, to: 2, term: 1 }]);
      return got.length > 0;
    });
    expect(watched.reloads).toBeGreaterThanOrEqual(1);
  });
});

function credentialsOf(files: CertificateFiles): PeerCredentials {
  return { server: peerServerCredentials(files), channel: peerChannelCredentials(files) };
}

/** A transport on a free port with member `member`'s peer certificate from `certs`. */
async function peerTransport(id: NodeId, certs: DevCerts, member: number): Promise<GrpcPeerTransport> {
  const m = memberOf(certs, member);
  const files = new CertificateFiles({ certFile: m.peerCert, keyFile: m.peerKey, caFile: certs.peerCa }, { prefix: 'peer-tls', reloadMs: 60_000 });
  const t = await GrpcPeerTransport.start({ id, listen: '127.0.0.1:0', credentials: credentialsOf(files) });
  cleanups.push(async () => {
    await t.close();
    files.close();
  });
  return t;
}
