/**
 * One `Conclave.Session` stream to one member, plus `Cluster` and `Access` clients for unary
 * calls, each call carrying the bearer token (if any) as `authorization` metadata. Frames are
 * routed to listeners by request id. No retries here: when the stream ends or fails, `onClose` is
 * called once and the owner decides what next. A new channel per connection, with its own
 * subchannels: a DNS name is resolved afresh on every connect, and no backoff state of an earlier
 * connection to the same address is inherited.
 */
import * as grpc from '@grpc/grpc-js';
import { loadApi } from '../api/proto.js';
import { fromServiceError } from '../api/error-status.js';
import { type ConclaveError, ErrorCode } from '../common/errors.js';
import { unavailable } from './client-errors.js';
import type { RequestOp, ResponseFrame } from './wire.js';

export type FrameListener = (frame: ResponseFrame) => void;

/** A bearer token, or a function that gives the current one (asked for every call and every new stream). */
export type TokenSource = string | (() => string);

/** How to reach members: credentials (TLS or plaintext), extra channel options, a bearer token. */
export interface ChannelSettings {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
  readonly token?: TokenSource | undefined;
}

/** Refusals of a whole stream that no other member would answer differently: passed on typed, not as UNAVAILABLE. */
const REFUSALS: ReadonlySet<string> = new Set([ErrorCode.UNAUTHENTICATED, ErrorCode.PERMISSION_DENIED]);

/** The call metadata: `authorization: Bearer <token>` when there is a token. */
export function callMetadata(token: TokenSource | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token === undefined) return md;
  const value = typeof token === 'function' ? token() : token;
  md.set('authorization', `Bearer ${value}`);
  return md;
}

export type UnaryService = 'Cluster' | 'Access';

type UnaryMethod = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export class Connection {
  readonly address: string;
  readonly #channel: grpc.Channel;
  readonly #conclave: grpc.Client;
  readonly #unary: Readonly<Record<UnaryService, grpc.Client>>;
  readonly #token: TokenSource | undefined;
  readonly #call: grpc.ClientDuplexStream<object, ResponseFrame>;
  readonly #listeners = new Map<number, FrameListener>();
  readonly #onClose: (conn: Connection, reason: ConclaveError) => void;
  #closed = false;
  /** performance.now() of the last frame received: a member that sends is not paused or gone. */
  lastFrameAt = 0;

  constructor(address: string, onClose: (conn: Connection, reason: ConclaveError) => void, channel?: ChannelSettings) {
    this.address = address;
    this.#onClose = onClose;
    const api = loadApi();
    const creds = channel?.credentials ?? grpc.credentials.createInsecure();
    this.#channel = new grpc.Channel(address, creds, { ...channel?.options, 'grpc.use_local_subchannel_pool': 1 });
    this.#conclave = new api.Conclave(address, creds, { channelOverride: this.#channel });
    this.#unary = {
      Cluster: new api.Cluster(address, creds, { channelOverride: this.#channel }),
      Access: new api.Access(address, creds, { channelOverride: this.#channel }),
    };
    this.#token = channel?.token;
    this.#call = (this.#conclave as unknown as { Session(md: grpc.Metadata): grpc.ClientDuplexStream<object, ResponseFrame> }).Session(callMetadata(this.#token));
    this.#call.on('data', (frame: ResponseFrame) => {
      this.lastFrameAt = performance.now();
      this.#listeners.get(frame.id)?.(frame);
    });
    this.#call.on('error', (err: grpc.ServiceError) => {
      const typed = fromServiceError(err);
      this.#fail(REFUSALS.has(typed.code) ? typed : unavailable(`connection to ${address} failed: ${err.details || err.message}`));
    });
    this.#call.on('end', () => this.#fail(unavailable(`connection to ${address} ended by the server`)));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Send `{ id, [op]: body }`; `listener` gets every frame answering to `id` until `forget(id)`. */
  send(id: number, op: RequestOp, body: object, listener: FrameListener): void {
    if (this.#closed) return;
    this.#listeners.set(id, listener);
    this.#call.write({ id, [op]: body });
  }

  /** Replace the listener of request `id` (a one-shot watch outlives its read's answer). */
  listen(id: number, listener: FrameListener): void {
    if (!this.#closed) this.#listeners.set(id, listener);
  }

  forget(id: number): void {
    this.#listeners.delete(id);
  }

  /** A unary `Cluster` call; a failure becomes the server's typed error (UNAVAILABLE for transport failures). */
  clusterCall<T>(method: string, req: object, timeoutMs: number): Promise<T> {
    return this.unaryCall<T>('Cluster', method, req, timeoutMs);
  }

  /** A unary call of `service`, with the token's metadata; failures as in `clusterCall`. */
  unaryCall<T>(service: UnaryService, method: string, req: object, timeoutMs: number): Promise<T> {
    const client = this.#unary[service];
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (!fn) return Promise.reject(unavailable(`no ${service} method ${method}`));
    return new Promise((resolve, reject) => {
      fn.call(client, req, callMetadata(this.#token), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(fromServiceError(err));
        else resolve(res as T);
      });
    });
  }

  /** Close without calling `onClose`: half-close the stream, cancel it, release the channels. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#call.end();
    this.#call.cancel();
    this.#channel.close();
  }

  #fail(reason: ConclaveError): void {
    if (this.#closed) return;
    this.close();
    this.#onClose(this, reason);
  }
}
