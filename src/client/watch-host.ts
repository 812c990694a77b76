/** The contract between the session core and the persistent watches it carries across connections. */
import type { ConclaveError } from '../common/errors.js';
import type { Connection } from './connection.js';

/** A persistent watch as the core sees it. */
export interface HostedWatch {
  /** A connection is ready: (re)register on it, resuming from where the watch stands. */
  onReady(conn: Connection): void;
  /** The connection is gone; wait for the next `onReady`. */
  onDetached(): void;
  /** The session is lost (or another fatal error): fail the watch. */
  onFailed(err: ConclaveError): void;
  /** The client is closed: end the watch. */
  onClosed(): void;
}

/** What the core offers a watch. */
export interface WatchHost {
  attach(w: HostedWatch): void;
  detach(w: HostedWatch): void;
  nextId(): number;
  /** A zxid the watch saw (reads never go back before it). */
  observeZxid(zxid: number): void;
  /** The server cut this stream's watches off (slow watcher): replace the connection. */
  recycle(conn: Connection, reason: ConclaveError): void;
}
