/**
 * The audit log (off by default, `--audit-log FILE`, `-` for stdout): one pino JSON line per
 * change and per refusal — who (identity, and how it was established), did what (the RPC), to
 * which path(s), from where, with which outcome (OK or the error code) and at which zxid.
 * Successful reads are not logged (they would drown the rest). Written asynchronously: the
 * event loop never waits on the file.
 */
import pino from 'pino';

export interface AuditRecord {
  /** Undefined with auth off: then every caller is trusted. */
  readonly identity: string | undefined;
  readonly via: 'none' | 'token' | 'certificate';
  readonly client: string;
  /** The RPC (Create, SetAcl, MemberRemove, ...). */
  readonly op: string;
  readonly path?: string;
  /** A Multi's paths, in op order. */
  readonly paths?: readonly string[];
  readonly sessionId?: number;
  /** OK, or the error code. */
  readonly result: string;
  readonly zxid?: number;
}

export class AuditLog {
  readonly #log: pino.Logger;
  readonly #dest: pino.DestinationStream & { flushSync?: () => void; end?: () => void };

  constructor(file: string) {
    this.#dest = pino.destination({ dest: file === '-' ? 1 : file, sync: false, mkdir: true });
    this.#log = pino({ base: { audit: true }, messageKey: 'msg' }, this.#dest);
  }

  record(r: AuditRecord): void {
    this.#log.info({ identity: r.identity ?? null, via: r.via, client: r.client, op: r.op, ...(r.path !== undefined ? { path: r.path } : {}), ...(r.paths ? { paths: r.paths } : {}), ...(r.sessionId ? { sessionId: r.sessionId } : {}), result: r.result, ...(r.zxid ? { zxid: r.zxid } : {}) });
  }

  close(): void {
    try {
      this.#dest.flushSync?.();
    } catch {
      // Not yet open (nothing written): nothing to flush.
    }
    this.#dest.end?.();
  }
}
