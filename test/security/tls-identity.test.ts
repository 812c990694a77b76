/**
 * `certificateIdentity` through real TLS connections: a gRPC server with the client port's own
 * credentials (`--tls-client-auth request`) answers each caller with the identity it sees. Only a
 * certificate that verified against the CA names anyone: CN first, then a URI SAN, then a DNS SAN.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateFiles } from '../../src/security/certificate-files.js';
import { certificateIdentity, subjectAltNames } from '../../src/security/tls-identity.js';
import { type ClientAuth, clientChannel, clientPortCredentials } from '../../src/security/tls.js';
import { type TlsFixtures, makeTlsFixtures, sdkTls } from './tls-fixtures.js';

const WHO = '/conclave.test.Who/Who';
const whoService: grpc.ServiceDefinition = {
  who: {
    path: WHO,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (s: string) => Buffer.from(s, 'utf8'),
    responseDeserialize: (b: Buffer) => b.toString('utf8'),
    originalName: 'Who',
  },
};

let fx: TlsFixtures;
const servers: { server: grpc.Server; files?: CertificateFiles }[] = [];

async function whoServer(clientAuth: ClientAuth | 'plaintext'): Promise<number> {
  const server = new grpc.Server();
  server.addService(whoService, {
    who: (call: grpc.ServerUnaryCall<Buffer, string>, callback: grpc.sendUnaryData<string>) => callback(null, certificateIdentity(call) ?? '<none>'),
  });
  const m = fx.cluster.members[0] as (typeof fx.cluster.members)[number];
  let files: CertificateFiles | undefined;
  let creds = grpc.ServerCredentials.createInsecure();
  if (clientAuth !== 'plaintext') {
    const tls = { certFile: m.cert, keyFile: m.key, caFile: fx.cluster.ca, clientAuth };
    files = new CertificateFiles(tls, { prefix: 'tls', reloadMs: 60_000 });
    creds = clientPortCredentials(tls, files);
  }
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  servers.push({ server, ...(files ? { files } : {}) });
  return port;
}

/** The identity the server saw, or the gRPC error code. */
function ask(port: number, tls: { ca?: string; cert?: string; key?: string } | undefined): Promise<string | number> {
  const { credentials, options } = clientChannel(tls ? sdkTls(tls) : undefined);
  const client = new grpc.Client(`127.0.0.1:${port}`, credentials, { ...options, 'grpc.use_local_subchannel_pool': 1 });
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, string>(WHO, (b) => b, (b) => b.toString('utf8'), Buffer.alloc(0), { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      resolve(err ? err.code : (res as string));
    });
  });
}

beforeAll(async () => {
  fx = await makeTlsFixtures();
});

afterAll(async () => {
  for (const s of servers) {
    s.server.forceShutdown();
    s.files?.close();
  }
  await fx?.remove();
});

describe('certificateIdentity over a real TLS connection', () => {
  it('is the subject CN of a certificate from the CA, and nobody without one (--tls-client-auth request)', async () => {
    const port = await whoServer('request');
    const ca = fx.cluster.ca;
    expect(await ask(port, { ca, ...fx.cluster.clients['root'] })).toBe('root');
    expect(await ask(port, { ca, ...fx.cluster.clients['client'] })).toBe('client');
    expect(await ask(port, { ca })).toBe('<none>');
    // Presented but not verified: a stranger's CA, an expired certificate. Served, as nobody.
    expect(await ask(port, { ca, ...fx.stranger.clients['root'] })).toBe('<none>');
    expect(await ask(port, { ca, ...fx.expired })).toBe('<none>');
  });

  it('falls back to the first URI SAN, then the first DNS SAN, when the subject has no CN', async () => {
    const port = await whoServer('request');
    expect(await ask(port, { ca: fx.cluster.ca, ...fx.uriOnly })).toBe('spiffe://conclave.test/worker');
    expect(await ask(port, { ca: fx.cluster.ca, ...fx.dnsOnly })).toBe('worker.example');
  });

  it('names nobody on a port that asks for no certificate, or on plaintext', async () => {
    const none = await whoServer('none');
    expect(await ask(none, { ca: fx.cluster.ca, ...fx.cluster.clients['root'] })).toBe('<none>');
    const plain = await whoServer('plaintext');
    expect(await ask(plain, undefined)).toBe('<none>');
  });

  it('with require, a certificate that does not verify never reaches a handler', async () => {
    const port = await whoServer('require');
    expect(await ask(port, { ca: fx.cluster.ca, ...fx.cluster.clients['root'] })).toBe('root');
    expect(await ask(port, { ca: fx.cluster.ca, ...fx.stranger.clients['root'] })).toBe(grpc.status.UNAVAILABLE);
    expect(await ask(port, { ca: fx.cluster.ca })).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('certificateIdentity on odd certificates', () => {
  const call = (cert: Partial<PeerCertificate> | undefined) => ({ getAuthContext: () => (cert ? { transportSecurityType: 'ssl', sslPeerCertificate: cert as PeerCertificate } : {}) });

  it('ignores a repeated CN (it names no one in particular) and an empty one', () => {
    expect(certificateIdentity(call({ subject: { CN: ['a', 'b'] } as unknown as PeerCertificate['subject'], subjectaltname: 'DNS:x.example' }))).toBe('x.example');
    expect(certificateIdentity(call({ subject: { CN: '' } as PeerCertificate['subject'], subjectaltname: '' }))).toBeUndefined();
    expect(certificateIdentity(call(undefined))).toBeUndefined();
    expect(certificateIdentity({ getAuthContext: () => null })).toBeUndefined();
  });

  it('reads Node\'s subjectaltname string, quoted values included', () => {
    expect(subjectAltNames('DNS:a.example, URI:spiffe://x/y, IP Address:10.0.0.1')).toEqual([
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'spiffe://x/y' },
      { type: 'IP Address', value: '10.0.0.1' },
    ]);
    // A value with a comma comes JSON-quoted: it is one name, not two.
    expect(subjectAltNames('URI:"spiffe://x/a, DNS:evil", DNS:b.example')).toEqual([
      { type: 'URI', value: 'spiffe://x/a, DNS:evil' },
      { type: 'DNS', value: 'b.example' },
    ]);
    expect(subjectAltNames('')).toEqual([]);
  });
});
