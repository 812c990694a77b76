/**
 * Cluster administration over plain unary gRPC (Cluster, Access and Health services): what
 * `status`, `member`, `leader transfer`, `snapshot save`, `acl`, `quota` and `auth` need. One call
 * at a time against a given member, or against any endpoint that answers; changes follow
 * NOT_LEADER to the leader. Every call carries the bearer token, if one is given.
 */
import * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import { fromServiceError } from '../api/error-status.js';
import { loadApi } from '../api/proto.js';
import { type ClientTlsOptions, clientChannel, cliClientTls } from '../security/tls.js';
import type { ClusterStatus as MemberStatus, MemberInfo } from '../client/types.js';
import { callMetadata } from '../client/connection.js';

type Msg = Record<string, unknown>;
type Service = 'cluster' | 'access' | 'health';
type Clients = Record<Service, grpc.Client>;

export type { MemberInfo, ClusterStatus as MemberStatus } from '../client/types.js';

export class Admin {
  readonly #endpoints: readonly string[];
  readonly #timeoutMs: number;
  readonly #clients = new Map<string, Clients>();
  readonly #token: string | undefined;

  readonly #channelOptions: grpc.ChannelOptions;
  readonly #credentials: grpc.ChannelCredentials;

  /**
   * `freshConnections`: connect anew rather than share gRPC's process-wide connections, whose
   * reconnect backoff after a failure (a member not up yet) can last minutes (`conclave k8s`).
   * `tls`: null for plaintext; when left out, taken from CONCLAVE_TLS_CA, _CERT, _KEY and
   * _SERVER_NAME (so the `conclave k8s` commands beside a TLS member use the member's own files).
   * `token`: a bearer token, null for none; when left out, taken from CONCLAVE_TOKEN.
   */
  constructor(endpoints: readonly string[], timeoutMs: number, opts: { freshConnections?: boolean; tls?: ClientTlsOptions | null; token?: string | null } = {}) {
    if (endpoints.length === 0) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'no endpoints given (--endpoints or CONCLAVE_ENDPOINTS)');
    this.#endpoints = endpoints;
    this.#timeoutMs = timeoutMs;
    const envToken = process.env['CONCLAVE_TOKEN']?.trim();
    this.#token = opts.token === undefined ? envToken || undefined : (opts.token ?? undefined);
    const tls = opts.tls === undefined ? cliClientTls({}, process.env) : (opts.tls ?? undefined);
    const channel = clientChannel(tls);
    this.#credentials = channel.credentials;
    this.#channelOptions = { ...channel.options, ...(opts.freshConnections ? { 'grpc.use_local_subchannel_pool': 1 } : {}) };
  }

  #client(address: string): Clients {
    let c = this.#clients.get(address);
    if (!c) {
      const api = loadApi();
      const creds = this.#credentials;
      const opts = this.#channelOptions;
      c = { cluster: new api.Cluster(address, creds, opts), access: new api.Access(address, creds, opts), health: new api.Health(address, creds, opts) };
      this.#clients.set(address, c);
    }
    return c;
  }

  /** One unary call to `address`. */
  call(address: string, service: Service, method: string, req: Msg, timeoutMs = this.#timeoutMs): Promise<Msg> {
    const client = this.#client(address)[service] as unknown as Record<string, (r: Msg, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res: Msg) => void) => void>;
    const fn = client[method];
    if (!fn) throw new ConclaveError(ErrorCode.INTERNAL, `no method ${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, req, callMetadata(this.#token), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (!err) resolve(res);
        else if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
          reject(new ConclaveError(ErrorCode.UNAVAILABLE, `${address}: ${err.details || 'unreachable'}`));
        } else reject(fromServiceError(err));
      });
    });
  }

  /** The first endpoint that answers; UNAVAILABLE if none does. */
  async any(method: string, req: Msg = {}): Promise<{ address: string; res: Msg }> {
    const failures: string[] = [];
    for (const address of this.#endpoints) {
      try {
        return { address, res: await this.call(address, 'cluster', method, req) };
      } catch (err: unknown) {
        if (!isConclaveError(err, ErrorCode.UNAVAILABLE)) throw err;
        failures.push(err.message);
      }
    }
    throw new ConclaveError(ErrorCode.UNAVAILABLE, `no member answered: ${failures.join('; ')}`);
  }

  /** A call that must reach the leader: follows the NOT_LEADER hint a few times. */
  async onLeader(method: string, req: Msg, service: 'cluster' | 'access' = 'cluster'): Promise<Msg> {
    let { address } = await this.any('Status');
    for (let hop = 0; hop < 5; hop++) {
      try {
        return await this.call(address, service, method, req);
      } catch (err: unknown) {
        const leader = isConclaveError(err, ErrorCode.NOT_LEADER) ? err.details['leader'] : undefined;
        if (typeof leader !== 'string' || leader === '' || leader === address) throw err;
        address = leader;
      }
    }
    throw new ConclaveError(ErrorCode.UNAVAILABLE, 'the leader kept moving; try again');
  }

  async members(): Promise<{ leader: number; members: MemberInfo[] }> {
    const { res } = await this.any('MemberList');
    return { leader: res['leader'] as number, members: res['members'] as MemberInfo[] };
  }

  async status(address: string): Promise<MemberStatus> {
    return (await this.call(address, 'cluster', 'Status', {}, Math.min(this.#timeoutMs, 3000))) as unknown as MemberStatus;
  }

  async healthy(address: string): Promise<boolean> {
    const res = await this.call(address, 'health', 'Check', { service: '' }, Math.min(this.#timeoutMs, 3000));
    return res['status'] === 'SERVING';
  }

  /** Stream a fresh snapshot from the first member that answers. */
  async snapshot(onChunk: (chunk: { index: number; totalBytes: number; data: Uint8Array }) => void): Promise<void> {
    const { address } = await this.any('Status');
    const client = this.#client(address).cluster as unknown as { SnapshotDownload(r: Msg, md: grpc.Metadata): grpc.ClientReadableStream<Msg> };
    const call = client.SnapshotDownload({}, callMetadata(this.#token));
    let index = 0;
    let totalBytes = 0;
    await new Promise<void>((resolve, reject) => {
      call.on('data', (m: Msg) => {
        if (typeof m['totalBytes'] === 'number' && m['totalBytes'] > 0) {
          index = m['index'] as number;
          totalBytes = m['totalBytes'];
        }
        onChunk({ index, totalBytes, data: m['data'] as Uint8Array });
      });
      call.on('error', (err: grpc.ServiceError) => reject(fromServiceError(err)));
      call.on('end', () => resolve());
    });
  }

  close(): void {
    for (const c of this.#clients.values()) {
      for (const client of Object.values(c)) client.close();
    }
    this.#clients.clear();
  }
}
