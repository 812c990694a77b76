/**
 * A grpc-js certificate provider over PEM files that re-reads them every `reloadMs`, so a
 * certificate rotated on disk (a Kubernetes Secret update, cert-manager renewing one) reaches new
 * connections without a restart. grpc-js's own `FileWatcherCertificateProvider` does the polling
 * too, but it hands on whatever it read: a file caught half-written, or a new certificate next to
 * the old key, would leave the port refusing every connection until the next read, and its timer
 * keeps a process alive. This one checks what it read and keeps the last good set until the files
 * fit together again (warning once per bad set), tells listeners only when something changed, and
 * never holds the process open.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import { type TlsFiles, type TlsMaterial, flag, loadTlsMaterial, tlsMaterialProblem } from './tls.js';

type Provider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

export interface CertificateFilesLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class CertificateFiles implements Provider {
  readonly #files: TlsFiles;
  readonly #prefix: string;
  readonly #reloadMs: number;
  readonly #log: CertificateFilesLog | undefined;
  #current: TlsMaterial;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<boolean> | undefined;
  /** Digest of the last set of files refused, so each bad set is reported once. */
  #refused = '';
  #closed = false;
  /** Sets of files taken after the first (for tests and logs). */
  reloads = 0;

  /**
   * Reads and checks the files now (INVALID_ARGUMENT naming `--PREFIX-cert`, ... if they do not
   * fit together), then every `reloadMs` while some credentials listen.
   */
  constructor(files: TlsFiles, opts: { prefix: string; reloadMs: number; log?: CertificateFilesLog }) {
    this.#files = files;
    this.#prefix = opts.prefix;
    this.#reloadMs = opts.reloadMs;
    this.#log = opts.log;
    this.#current = loadTlsMaterial(files, opts.prefix);
  }

  /** The set in use. */
  get current(): TlsMaterial {
    return this.#current;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    this.#watch();
    process.nextTick(() => {
      if (this.#caListeners.has(listener)) listener(this.#caUpdate());
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
    this.#unwatchIfIdle();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    this.#watch();
    process.nextTick(() => {
      if (this.#identityListeners.has(listener)) listener(this.#identityUpdate());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
    this.#unwatchIfIdle();
  }

  /**
   * Read the files now; true if a new, valid set was taken (and listeners told). A set that does
   * not read or fit together is refused and the one in use kept.
   */
  reload(): Promise<boolean> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  /** Stop polling and forget the listeners. */
  close(): void {
    this.#closed = true;
    this.#caListeners.clear();
    this.#identityListeners.clear();
    this.#unwatchIfIdle();
  }

  async #read(): Promise<boolean> {
    const names = (['cert', 'key', 'ca'] as const).filter((p) => this.#files[`${p}File`] !== undefined);
    let next: Record<string, Buffer>;
    try {
      const contents = await Promise.all(names.map((p) => readFile(this.#files[`${p}File`] as string)));
      next = Object.fromEntries(names.map((p, i) => [p, contents[i] as Buffer]));
    } catch (err: unknown) {
      this.#refuse(`unreadable:${err instanceof Error ? err.message : String(err)}`, { error: err instanceof Error ? err.message : String(err) });
      return false;
    }
    if (this.#closed) return false;
    if (names.every((p) => (next[p] as Buffer).equals(this.#current[p] as Buffer))) {
      this.#refused = '';
      return false;
    }
    const problem = tlsMaterialProblem(next, flag(this.#prefix, this.#files));
    if (problem) {
      const digest = createHash('sha256');
      for (const p of names) digest.update(next[p] as Buffer);
      this.#refuse(digest.digest('hex'), { problem });
      return false;
    }
    this.#refused = '';
    this.#current = next;
    this.reloads++;
    this.#log?.info({ files: this.#files }, `${this.#prefix}: certificate files changed; new connections use them`);
    const identity = this.#identityUpdate();
    const ca = this.#caUpdate();
    for (const l of this.#identityListeners) l(identity);
    for (const l of this.#caListeners) l(ca);
    return true;
  }

  #refuse(key: string, details: Record<string, unknown>): void {
    if (key === this.#refused) return;
    this.#refused = key;
    this.#log?.warn({ files: this.#files, ...details }, `${this.#prefix}: certificate files changed but cannot be used (yet); still using the previous ones`);
  }

  #caUpdate(): grpc.experimental.CaCertificateUpdate | null {
    return this.#current.ca ? { caCertificate: this.#current.ca } : null;
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate | null {
    const { cert, key } = this.#current;
    return cert && key ? { certificate: cert, privateKey: key } : null;
  }

  #watch(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.reload(), this.#reloadMs);
    this.#timer.unref();
  }

  #unwatchIfIdle(): void {
    if (this.#caListeners.size > 0 || this.#identityListeners.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
