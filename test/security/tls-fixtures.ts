/**
 * Certificates for the TLS tests, made with `conclave certs dev`'s own functions in a temp
 * directory: the cluster's set, a second set from unrelated CAs (a stranger), and odd client
 * certificates (expired, no CN) from the cluster's client CA.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DevCerts, createDevCertificates, issueCertificate } from '../../src/security/dev-certs.js';
import { type ClientTlsOptions, silenceIpServerNameWarning } from '../../src/security/tls.js';

// grpc-js sends IP addresses as the TLS server name; Node's one warning about it is noise here.
silenceIpServerNameWarning();

export interface TlsFixtures {
  readonly dir: string;
  /** The cluster's CAs and certificates (3 members, clients root and client). */
  readonly cluster: DevCerts;
  /** The same from other CAs. */
  readonly stranger: DevCerts;
  /** Client certificates from the cluster's client CA: already expired; with only SANs. */
  readonly expired: { cert: string; key: string };
  readonly uriOnly: { cert: string; key: string };
  readonly dnsOnly: { cert: string; key: string };
  remove(): Promise<void>;
}

export async function makeTlsFixtures(): Promise<TlsFixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'conclave-tls-'));
  const cluster = await createDevCertificates({ out: join(dir, 'cluster'), members: 3, hosts: ['127.0.0.1', 'localhost'] });
  const stranger = await createDevCertificates({ out: join(dir, 'stranger'), members: 3, hosts: ['127.0.0.1', 'localhost'], clients: ['root'] });
  const ca = { cert: cluster.ca, key: join(cluster.dir, 'ca.key') };
  const at = (name: string): { cert: string; key: string } => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const expired = at('expired');
  await issueCertificate({ ...expired, ca, cn: 'root', usage: 'client', days: -1, work: dir });
  const uriOnly = at('uri-only');
  await issueCertificate({ ...uriOnly, ca, sans: ['spiffe://conclave.test/worker', 'worker.example'], usage: 'client', days: 1, work: dir });
  const dnsOnly = at('dns-only');
  await issueCertificate({ ...dnsOnly, ca, sans: ['worker.example', 'other.example'], usage: 'client', days: 1, work: dir });
  return { dir, cluster, stranger, expired, uriOnly, dnsOnly, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** SDK TLS options from files. */
export function sdkTls(files: { ca?: string; cert?: string; key?: string }): ClientTlsOptions {
  return {
    ...(files.ca ? { ca: readFileSync(files.ca) } : {}),
    ...(files.cert ? { cert: readFileSync(files.cert) } : {}),
    ...(files.key ? { key: readFileSync(files.key) } : {}),
  };
}
