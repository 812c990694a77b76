/**
 * Peer transport over gRPC (proto/peer.proto): one long-lived client stream to each peer, carrying
 * batches of Raft messages encoded by `message-codec.ts` (no protobuf reflection on the hot path).
 * A stream that fails is dropped and the peer reported unreachable (the leader falls back to
 * probing); the next send opens a new one, re-resolving the peer's address. A slow peer's buffer is
 * bounded: past it, messages to that peer are dropped (Raft retransmits) rather than growing memory.
 * With `credentials`, both directions are mutual TLS (src/security/tls.ts): a peer without a
 * certificate from the cluster's peer CA never gets a stream open, so nothing it sends is stepped.
 */
import * as grpc from '@grpc/grpc-js';
import type { Message, NodeId } from '../raft/index.js';
import { decodeBatch, encodeBatch } from './message-codec.js';
import type { PeerTransport } from './peer-transport.js';

const SEND_PATH = '/conclave.peer.v1.Peer/Send';
const MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

const toBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const asBuffer = (b: Buffer): Buffer => b;

const peerService: grpc.ServiceDefinition = {
  send: {
    path: SEND_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: toBuffer,
    requestDeserialize: asBuffer,
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: () => ({}),
    originalName: 'Send',
  },
};

export interface GrpcTransportOptions {
  readonly id: NodeId;
  /** host:port to listen on; port 0 picks a free one (see `port`). */
  readonly listen: string;
  readonly peers?: ReadonlyMap<NodeId, string>;
  /** Bytes queued to one peer beyond which its messages are dropped. */
  readonly bufferedBytesMaxPerPeer?: number;
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
  /** TLS for the peer port and for dialing peers; plaintext when left out. */
  readonly credentials?: PeerCredentials;
}

export interface PeerCredentials {
  readonly server: grpc.ServerCredentials;
  readonly channel: grpc.ChannelCredentials;
}

interface Outbound {
  readonly client: grpc.Client;
  readonly stream: grpc.ClientWritableStream<Uint8Array>;
}

export class GrpcPeerTransport implements PeerTransport {
  readonly id: NodeId;
  readonly port: number;
  readonly #server: grpc.Server;
  readonly #opts: GrpcTransportOptions;
  #peers: Map<NodeId, string>;
  readonly #outbound = new Map<NodeId, Outbound>();
  #handler: ((m: Message) => void) | undefined;
  #unreachable: ((peer: NodeId) => void) | undefined;
  #closed = false;
  readonly stats = { batchesSent: 0, messagesSent: 0, messagesDropped: 0, batchesReceived: 0, badBatches: 0 };

  private constructor(opts: GrpcTransportOptions, server: grpc.Server, port: number) {
    this.id = opts.id;
    this.#opts = opts;
    this.#server = server;
    this.port = port;
    this.#peers = new Map(opts.peers ?? []);
  }

  static async start(opts: GrpcTransportOptions): Promise<GrpcPeerTransport> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': MESSAGE_BYTES_MAX });
    let transport: GrpcPeerTransport | undefined;
    server.addService(peerService, {
      send: (call: grpc.ServerReadableStream<Buffer, object>, callback: grpc.sendUnaryData<object>) => {
        let refused = false;
        call.on('data', (batch: Buffer) => {
          if (refused || !transport || transport.receiveBatch(batch)) return;
          // A peer that sends garbage is cut off with a clear status; nothing it sent is stepped.
          refused = true;
          callback({ code: grpc.status.INVALID_ARGUMENT, details: 'undecodable peer batch' });
        });
        call.on('end', () => {
          if (!refused) callback(null, {});
        });
        call.on('error', () => undefined);
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(opts.listen, opts.credentials?.server ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    transport = new GrpcPeerTransport(opts, server, port);
    return transport;
  }

  /** Replace the peer address book (membership changed, or addresses became known). */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    this.#peers = new Map(peers);
    for (const id of [...this.#outbound.keys()]) if (!this.#peers.has(id)) this.#dropStream(id);
  }

  onMessage(handler: (m: Message) => void): void {
    this.#handler = handler;
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.#unreachable = handler;
  }

  send(messages: readonly Message[]): void {
    if (this.#closed || messages.length === 0) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    const limit = this.#opts.bufferedBytesMaxPerPeer ?? 16 * 1024 * 1024;
    for (const [peer, batch] of byPeer) {
      const out = this.#streamTo(peer);
      if (!out) {
        this.stats.messagesDropped += batch.length;
        this.#unreachable?.(peer);
        continue;
      }
      if (out.stream.writableLength > limit) {
        this.stats.messagesDropped += batch.length;
        continue;
      }
      out.stream.write(encodeBatch(batch));
      this.stats.batchesSent++;
      this.stats.messagesSent += batch.length;
    }
  }

  #streamTo(peer: NodeId): Outbound | undefined {
    const existing = this.#outbound.get(peer);
    if (existing) return existing;
    const address = this.#peers.get(peer);
    if (!address) return undefined;
    const client = new grpc.Client(address, this.#opts.credentials?.channel ?? grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': MESSAGE_BYTES_MAX,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
    const stream = client.makeClientStreamRequest<Uint8Array, object>(SEND_PATH, toBuffer, () => ({}), (err) => {
      if (err && !this.#closed) {
        this.#opts.onWarning?.('peer stream failed', { peer, address, code: err.code, details: err.details });
        this.#dropStream(peer, out);
        this.#unreachable?.(peer);
      }
    });
    stream.on('error', () => undefined);
    const out: Outbound = { client, stream };
    this.#outbound.set(peer, out);
    return out;
  }

  #dropStream(peer: NodeId, which?: Outbound): void {
    const out = this.#outbound.get(peer);
    if (!out || (which && which !== out)) return;
    this.#outbound.delete(peer);
    out.stream.end();
    out.client.close();
  }

  /** A batch arrived on one of our server streams; false if it does not decode (internal). */
  receiveBatch(batch: Buffer): boolean {
    if (this.#closed) return true;
    let messages: Message[];
    try {
      messages = decodeBatch(batch);
    } catch (err: unknown) {
      this.stats.badBatches++;
      this.#opts.onWarning?.('undecodable batch from a peer', { error: err instanceof Error ? err.message : String(err) });
      return false;
    }
    this.stats.batchesReceived++;
    for (const m of messages) if (m.to === this.id) this.#handler?.(m);
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#outbound.keys()]) this.#dropStream(id);
    // Peers' streams into us never end on their own: cut them rather than wait.
    this.#server.forceShutdown();
  }
}
