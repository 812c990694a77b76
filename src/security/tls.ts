/**
 * TLS for the client port, the peer port and the SDK: what the options mean, their validation, and
 * the gRPC credentials built from them. Server-side credentials (both ports) and the members'
 * credentials for dialing peers read their files through `CertificateFiles`, so a certificate
 * rotated on disk is used by new connections without a restart. The SDK takes PEM contents.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { CertificateFiles } from './certificate-files.js';

/** Whether the client port asks for client certificates, and whether it refuses a client without one. */
export const CLIENT_AUTH_MODES = ['none', 'request', 'require'] as const;
export type ClientAuth = (typeof CLIENT_AUTH_MODES)[number];

export const TLS_RELOAD_MS_DEFAULT = 5000;

/** PEM files on disk. */
export interface TlsFiles {
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly caFile?: string | undefined;
}

/**
 * TLS on the client port. `clientAuth`: `none` asks for no client certificate; `request` asks for
 * one and takes it as the client's identity when it chains to `caFile` (a client without one, or
 * with one that does not verify, is served without an identity); `require` refuses, at the
 * handshake, a client without a certificate from `caFile`.
 */
export interface ClientPortTls extends TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientAuth: ClientAuth;
}

/** TLS on the peer port: always mutual, every member's certificate from the cluster's peer CA. */
export interface PeerTls extends TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/** The contents of `TlsFiles`, checked to fit together. */
export interface TlsMaterial {
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  readonly ca?: Buffer | undefined;
}

type Part = 'cert' | 'key' | 'ca';

/** How a problem names a part: `flag('peer-tls', files)('key')` is `--peer-tls-key FILE`. */
export const flag =
  (prefix: string, files?: TlsFiles) =>
  (part: Part): string =>
    `--${prefix}-${part}${files?.[`${part}File`] === undefined ? '' : ` ${files[`${part}File`]}`}`;

/**
 * Check a set of PEM contents: each parses, the key belongs to the certificate, and together they
 * make a TLS context. The problem, in words (each part named by `name`), or undefined.
 */
export function tlsMaterialProblem(m: TlsMaterial, name: (part: Part) => string): string | undefined {
  let cert: X509Certificate | undefined;
  if (m.cert) {
    try {
      cert = new X509Certificate(m.cert);
    } catch {
      return `${name('cert')} is not a PEM certificate`;
    }
  }
  if (m.key) {
    let key;
    try {
      key = createPrivateKey(m.key);
    } catch (err: unknown) {
      const encrypted = err instanceof Error && 'code' in err && err.code === 'ERR_MISSING_PASSPHRASE';
      return encrypted ? `${name('key')} is encrypted; give an unencrypted PEM private key` : `${name('key')} is not a PEM private key`;
    }
    if (cert && !cert.checkPrivateKey(key)) return `${name('key')} does not belong to the certificate in ${name('cert')}`;
  }
  if (m.ca) {
    try {
      new X509Certificate(m.ca);
    } catch {
      return `${name('ca')} is not a PEM certificate`;
    }
  }
  try {
    createSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  } catch (err: unknown) {
    return `${name('cert')}, ${name('key')} and ${name('ca')} do not make a TLS context: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

/** Read and check `files` now (at start-up); INVALID_ARGUMENT naming the flag at fault. */
export function loadTlsMaterial(files: TlsFiles, prefix: string): TlsMaterial {
  const read = (file: string | undefined, what: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err: unknown) {
      const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
      throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `--${prefix}-${what} ${file}: cannot read it (${reason})`);
    }
  };
  const m = { cert: read(files.certFile, 'cert'), key: read(files.keyFile, 'key'), ca: read(files.caFile, 'ca') };
  const problem = tlsMaterialProblem(m, flag(prefix, files));
  if (problem) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, problem);
  return m;
}

/**
 * The client port's TLS from its raw options (flags, environment, config file), or undefined when
 * none is set. Refuses what cannot work: a key without a certificate, `request`/`require` without a
 * CA to verify clients against, an unknown mode, a file that does not read or parse.
 */
export function parseClientPortTls(raw: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined; clientAuth?: string | undefined }): ClientPortTls | undefined {
  const bad = (message: string): ConclaveError => new ConclaveError(ErrorCode.INVALID_ARGUMENT, message);
  if (raw.cert === undefined && raw.key === undefined) {
    if (raw.ca !== undefined) throw bad('--tls-ca needs --tls-cert and --tls-key (the client port serves TLS only with a certificate)');
    if (raw.clientAuth !== undefined && raw.clientAuth !== 'none') throw bad(`--tls-client-auth ${raw.clientAuth} needs --tls-cert, --tls-key and --tls-ca`);
    return undefined;
  }
  if (raw.cert === undefined) throw bad('--tls-key needs --tls-cert');
  if (raw.key === undefined) throw bad('--tls-cert needs --tls-key');
  // With a CA to verify against, clients must present a certificate unless told otherwise.
  const clientAuth = raw.clientAuth ?? (raw.ca === undefined ? 'none' : 'require');
  if (!(CLIENT_AUTH_MODES as readonly string[]).includes(clientAuth)) throw bad(`--tls-client-auth must be ${CLIENT_AUTH_MODES.join(', ')}; got "${clientAuth}"`);
  if (clientAuth !== 'none' && raw.ca === undefined) throw bad(`--tls-client-auth ${clientAuth} needs --tls-ca (the CA that signs client certificates)`);
  const tls: ClientPortTls = { certFile: raw.cert, keyFile: raw.key, caFile: raw.ca, clientAuth: clientAuth as ClientAuth };
  loadTlsMaterial(tls, 'tls');
  return tls;
}

/** The peer port's TLS from its raw options, or undefined when none is set: all three or none. */
export function parsePeerTls(raw: { cert?: string | undefined; key?: string | undefined; ca?: string | undefined }): PeerTls | undefined {
  const given = (['cert', 'key', 'ca'] as const).filter((k) => raw[k] !== undefined);
  if (given.length === 0) return undefined;
  if (given.length < 3) {
    const missing = (['cert', 'key', 'ca'] as const).filter((k) => raw[k] === undefined).map((k) => `--peer-tls-${k}`);
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `peer TLS is always mutual: ${given.map((k) => `--peer-tls-${k}`).join(' and ')} ${given.length === 1 ? 'needs' : 'need'} ${missing.join(' and ')} too`);
  }
  const tls: PeerTls = { certFile: raw.cert as string, keyFile: raw.key as string, caFile: raw.ca as string };
  loadTlsMaterial(tls, 'peer-tls');
  return tls;
}

/**
 * The client port's server credentials. (grpc-js's `createCertificateProviderServerCredentials`
 * takes the identity provider first and the CA provider second, whatever its parameter names say.)
 */
export function clientPortCredentials(tls: ClientPortTls, files: CertificateFiles): grpc.ServerCredentials {
  const ca = tls.clientAuth === 'none' ? null : files;
  return grpc.experimental.createCertificateProviderServerCredentials(files, ca, tls.clientAuth === 'require');
}

/** The peer port's server credentials: a member without a certificate from the peer CA is refused at the handshake. */
export function peerServerCredentials(files: CertificateFiles): grpc.ServerCredentials {
  return grpc.experimental.createCertificateProviderServerCredentials(files, files, true);
}

/** A member's credentials for dialing its peers: its own certificate, theirs verified against the peer CA and their address. */
export function peerChannelCredentials(files: CertificateFiles): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(files, files);
}

/**
 * TLS for an SDK client: PEM contents (a string or a Buffer, not a file name: read the files
 * yourself, as the CLI does with `--tls-ca` ...).
 */
export interface ClientTlsOptions {
  /** The CA(s) that sign the members' certificates. Default: the system's trusted CAs. */
  readonly ca?: string | Buffer;
  /** This client's certificate (chain), for a cluster that asks for one; with `key`. */
  readonly cert?: string | Buffer;
  /** The private key of `cert`. */
  readonly key?: string | Buffer;
  /** Check every member's certificate against this name instead of the host dialled (and send it as SNI). */
  readonly serverName?: string;
}

/** Credentials and channel options for a client channel: plaintext without `tls`. BAD_ARGUMENTS for options that cannot work. */
export function clientChannel(tls: ClientTlsOptions | undefined): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  if (!tls) return { credentials: grpc.credentials.createInsecure(), options: {} };
  const bad = (message: string): ConclaveError => new ConclaveError(ErrorCode.BAD_ARGUMENTS, message);
  const pem = (v: string | Buffer | undefined, what: string): Buffer | undefined => {
    if (v === undefined) return undefined;
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    if (!b.includes('-----BEGIN ')) throw bad(`tls.${what} must be PEM contents (read the file first), not ${typeof v === 'string' && v.length < 256 ? `"${v}"` : 'that'}`);
    return b;
  };
  const m = { ca: pem(tls.ca, 'ca'), cert: pem(tls.cert, 'cert'), key: pem(tls.key, 'key') };
  if ((m.cert === undefined) !== (m.key === undefined)) throw bad('tls.cert and tls.key go together');
  const problem = tlsMaterialProblem(m, (part) => `tls.${part}`);
  if (problem) throw bad(problem);
  const options: grpc.ChannelOptions = tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {};
  return { credentials: grpc.credentials.createSsl(m.ca ?? null, m.key ?? null, m.cert ?? null), options };
}

/** The CLI's TLS options, also read from CONCLAVE_TLS_CA, _CERT, _KEY, _SERVER_NAME. */
export interface CliTlsFlags {
  readonly tls?: boolean | undefined;
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly serverName?: string | undefined;
}

/**
 * The SDK's TLS options from the CLI's file flags (or the CONCLAVE_TLS_* environment for what the
 * flags leave out); undefined (plaintext) when nothing asks for TLS. BAD_ARGUMENTS naming the flag.
 */
export function cliClientTls(flags: CliTlsFlags, env: Readonly<Record<string, string | undefined>>): ClientTlsOptions | undefined {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
  const ca = flags.ca ?? nonEmpty(env['CONCLAVE_TLS_CA']);
  const cert = flags.cert ?? nonEmpty(env['CONCLAVE_TLS_CERT']);
  const key = flags.key ?? nonEmpty(env['CONCLAVE_TLS_KEY']);
  const serverName = flags.serverName ?? nonEmpty(env['CONCLAVE_TLS_SERVER_NAME']);
  if (!flags.tls && ca === undefined && cert === undefined && key === undefined && serverName === undefined) return undefined;
  const read = (file: string | undefined, flag: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err: unknown) {
      const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
      throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `--${flag} ${file}: cannot read it (${reason})`);
    }
  };
  if ((cert === undefined) !== (key === undefined)) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, cert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  const pems = { ca: read(ca, 'tls-ca'), cert: read(cert, 'tls-cert'), key: read(key, 'tls-key') };
  const problem = tlsMaterialProblem(pems, flag('tls', { caFile: ca, certFile: cert, keyFile: key }));
  if (problem) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, problem);
  return { ...(pems.ca ? { ca: pems.ca } : {}), ...(pems.cert ? { cert: pems.cert } : {}), ...(pems.key ? { key: pems.key } : {}), ...(serverName ? { serverName } : {}) };
}

/**
 * grpc-js sends the dialled host as the TLS server name even when it is an IP address
 * (grpc/grpc-node#1919), and Node warns about that once per process (DEP0123). The `conclave`
 * command's stderr is for its own messages and the server's for JSON logs: drop that one warning
 * there. (The check of the certificate against the IP address is not affected.)
 */
export function silenceIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const opts = rest[0];
    const code = typeof opts === 'object' && opts !== null ? (opts as { code?: unknown }).code : rest[1];
    if (code === 'DEP0123') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}
