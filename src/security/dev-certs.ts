/**
 * Development certificates (`conclave certs dev`): a CA for the client port and one for the peer
 * port, a certificate per member for each port, and client certificates whose CN is the client's
 * identity. Two CAs, because any certificate from the peer CA is a member: a client certificate
 * must never be one. Keys are P-256, made by Node; the `openssl` binary signs (it must be on PATH).
 * Not for production: the CA keys sit next to the certificates.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ConclaveError, ErrorCode } from '../common/errors.js';

export const DEV_CERT_DAYS_DEFAULT = 365;

export interface DevCertsOptions {
  /** Directory to write into (created); refused if it already holds a dev CA. */
  readonly out: string;
  /** Members 1..members get a client-port and a peer certificate. */
  readonly members: number;
  /** Names and addresses every member certificate carries (IPs as IP SANs), besides `conclave-<id>`. */
  readonly hosts: readonly string[];
  /** Client certificates to make, by identity (their CN). */
  readonly clients?: readonly string[];
  readonly days?: number;
}

/** The files `createDevCertificates` wrote, by role. */
export interface DevCerts {
  readonly dir: string;
  /** The client port's CA: signs the members' client-port certificates and the client certificates. */
  readonly ca: string;
  readonly peerCa: string;
  readonly members: readonly { id: number; cert: string; key: string; peerCert: string; peerKey: string }[];
  readonly clients: Readonly<Record<string, { cert: string; key: string }>>;
}

function openssl(args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ('code' in err && err.code === 'ENOENT') {
        return reject(new ConclaveError(ErrorCode.UNAVAILABLE, 'the openssl command is needed to sign certificates and is not on PATH (Debian/Ubuntu: apt-get install openssl)'));
      }
      reject(new ConclaveError(ErrorCode.INTERNAL, `openssl ${args[0]} failed: ${stderr.trim() || err.message}`));
    });
  });
}

/** A P-256 private key, PKCS#8 PEM, written readable by its owner only. */
async function newKey(file: string): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

const REQ_CONFIG = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n';

/** A self-signed CA certificate for `keyFile`. */
export async function createCa(opts: { cert: string; key: string; name: string; days: number; work: string }): Promise<void> {
  await newKey(opts.key);
  const config = join(opts.work, 'ca.cnf');
  await writeFile(config, `${REQ_CONFIG}CN = ${opts.name}\n[ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n`);
  await openssl(['req', '-new', '-x509', '-config', config, '-extensions', 'ext', '-key', opts.key, '-days', String(opts.days), '-sha256', '-out', opts.cert]);
}

/**
 * A certificate for a new key, signed by the CA. `cn`: the subject's common name (none: the subject
 * is only `O=Conclave`); `sans`: host names, IP addresses and URIs; `days` may be negative (an
 * already expired certificate, for tests).
 */
export async function issueCertificate(opts: {
  cert: string;
  key: string;
  ca: { cert: string; key: string };
  cn?: string;
  sans?: readonly string[];
  usage: 'server' | 'client' | 'both';
  days: number;
  work: string;
}): Promise<void> {
  await newKey(opts.key);
  const tag = randomBytes(6).toString('hex');
  const config = join(opts.work, `${tag}.cnf`);
  const csr = join(opts.work, `${tag}.csr`);
  const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth, clientAuth' }[opts.usage];
  const sans = (opts.sans ?? []).map((h) => (isIP(h) ? `IP:${h}` : h.includes(':') ? `URI:${h}` : `DNS:${h}`));
  const ext = ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature, keyEncipherment', `extendedKeyUsage = ${eku}`, 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid'];
  if (sans.length > 0) ext.push(`subjectAltName = ${sans.join(', ')}`);
  await writeFile(config, `${REQ_CONFIG}${opts.cn === undefined ? 'O = Conclave' : `CN = ${opts.cn}`}\n[ext]\n${ext.join('\n')}\n`);
  await openssl(['req', '-new', '-config', config, '-key', opts.key, '-sha256', '-out', csr]);
  // A random positive 64-bit serial: no serial file to keep.
  const serialBytes = randomBytes(8);
  serialBytes[0] = ((serialBytes[0] as number) & 0x7f) | 0x40;
  const serial = `0x${serialBytes.toString('hex')}`;
  await openssl(['x509', '-req', '-in', csr, '-CA', opts.ca.cert, '-CAkey', opts.ca.key, '-set_serial', serial, '-days', String(opts.days), '-sha256', '-extfile', config, '-extensions', 'ext', '-out', opts.cert]);
}

/** Write a development CA pair and certificates into `opts.out`. */
export async function createDevCertificates(opts: DevCertsOptions): Promise<DevCerts> {
  const days = opts.days ?? DEV_CERT_DAYS_DEFAULT;
  const clients = opts.clients ?? ['root', 'client'];
  const dir = opts.out;
  const at = (name: string): string => join(dir, name);
  await mkdir(dir, { recursive: true });
  const exists = await access(at('ca.crt')).then(
    () => true,
    () => false,
  );
  if (exists) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `${dir} already holds a dev CA (ca.crt): remove the directory or pick another --out`);
  const work = await mkdtemp(join(dir, '.work-'));
  try {
    const ca = { cert: at('ca.crt'), key: at('ca.key') };
    const peerCa = { cert: at('peer-ca.crt'), key: at('peer-ca.key') };
    await createCa({ ...ca, name: 'Conclave dev client CA', days, work });
    await createCa({ ...peerCa, name: 'Conclave dev peer CA', days, work });
    const members: DevCerts['members'][number][] = [];
    for (let id = 1; id <= opts.members; id++) {
      const name = `conclave-${id}`;
      const m = { id, cert: at(`member-${id}.crt`), key: at(`member-${id}.key`), peerCert: at(`peer-${id}.crt`), peerKey: at(`peer-${id}.key`) };
      // A member's client-port certificate also serves as its client certificate (`conclave k8s`
      // commands run beside it use the same files), so it is good for both.
      await issueCertificate({ cert: m.cert, key: m.key, ca, cn: name, sans: [...opts.hosts, name], usage: 'both', days, work });
      await issueCertificate({ cert: m.peerCert, key: m.peerKey, ca: peerCa, cn: name, sans: [...opts.hosts, name], usage: 'both', days, work });
      members.push(m);
    }
    const out: Record<string, { cert: string; key: string }> = {};
    for (const identity of clients) {
      const c = { cert: at(`${identity}.crt`), key: at(`${identity}.key`) };
      await issueCertificate({ ...c, ca, cn: identity, usage: 'client', days, work });
      out[identity] = c;
    }
    return { dir, ca: ca.cert, peerCa: peerCa.cert, members, clients: out };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
