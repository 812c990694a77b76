/**
 * Real `conclave server` processes on 127.0.0.1 for integration tests, and a small promise-based
 * client over the public gRPC API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CODE_METADATA_KEY } from '../../src/api/error-status.js';
import { loadApi } from '../../src/api/proto.js';
import { until } from '../support/until.js';

export { until };

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

/** Ports this process has handed out: the kernel may offer a just-closed port again. */
const handedOut = new Set<number>();

/**
 * A port free now on 127.0.0.1, never one handed out before in this process. (A fake StatefulSet
 * takes fifteen ports at once; the kernel gave the same port twice, and two pods clashed on it.)
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const addr = s.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        s.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}


export interface Member {
  readonly id: number;
  readonly clientPort: number;
  readonly peerPort: number;
}

/** One server process. */
export class ServerProcess {
  child: ChildProcess | undefined;
  log = '';

  constructor(
    readonly member: Member,
    readonly dataDir: string,
    readonly members: readonly Member[],
    readonly extraArgs: readonly string[] = [],
  ) {}

  args(): string[] {
    const membersArg = this.members.map((m) => `${m.id}=127.0.0.1:${m.peerPort}/127.0.0.1:${m.clientPort}`).join(',');
    return [
      CLI,
      'server',
      '--id',
      String(this.member.id),
      '--data',
      this.dataDir,
      '--listen',
      `127.0.0.1:${this.member.clientPort}`,
      '--peer-listen',
      `127.0.0.1:${this.member.peerPort}`,
      '--members',
      membersArg,
      '--metrics-listen',
      '127.0.0.1:0',
      '--tick-ms',
      '20',
      // 0.5-1 s: fast enough for failover tests, slow enough that a loaded CI machine does not
      // depose a healthy leader mid-test (a 0.2 s timeout did, once: a proposal lost to a leader change).
      '--election-ticks',
      '25',
      '--log-level',
      'info',
      ...this.extraArgs,
    ];
  }

  async start(): Promise<void> {
    this.log = '';
    const child = spawn(process.execPath, this.args(), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.log += d.toString('utf8');
    });
    await until(`member ${this.member.id} to start`, () => {
      if (child.exitCode !== null) throw new Error(`member ${this.member.id} exited: ${this.log}`);
      return this.log.includes('conclave replica started');
    });
  }

  /** The HTTP port of /metrics, /livez and /readyz (from the start-up log line). */
  metricsPort(): number {
    const m = /"metricsListen":"[^"]*:(\d+)"/.exec(this.log);
    if (!m) throw new Error('no metricsListen in the log');
    return Number(m[1]);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

export class Cluster {
  readonly servers: ServerProcess[] = [];
  readonly #dirs: string[] = [];
  #extraArgs: readonly string[] = [];

  static async start(size: number, extraArgs: readonly string[] = []): Promise<Cluster> {
    const c = new Cluster();
    c.#extraArgs = extraArgs;
    const members: Member[] = [];
    for (let id = 1; id <= size; id++) members.push({ id, clientPort: await freePort(), peerPort: await freePort() });
    for (const m of members) {
      const dir = await mkdtemp(join(tmpdir(), `conclave-it-${m.id}-`));
      c.#dirs.push(dir);
      c.servers.push(new ServerProcess(m, dir, members, extraArgs));
    }
    await Promise.all(c.servers.map((s) => s.start()));
    return c;
  }

  /**
   * A new process for member `id`, configured to join this running cluster (`--join`), not started:
   * add it with MemberAdd first, then `start()` it.
   */
  async joiner(id: number): Promise<ServerProcess> {
    const member: Member = { id, clientPort: await freePort(), peerPort: await freePort() };
    const dir = await mkdtemp(join(tmpdir(), `conclave-it-${id}-`));
    this.#dirs.push(dir);
    const s = new ServerProcess(member, dir, [...this.servers.map((x) => x.member), member], [...this.#extraArgs, '--join']);
    this.servers.push(s);
    return s;
  }

  client(id: number): Client {
    const s = this.servers.find((x) => x.member.id === id);
    if (!s) throw new Error(`no member ${id}`);
    return new Client(`127.0.0.1:${s.member.clientPort}`);
  }

  async leader(): Promise<number> {
    return until('a leader', async () => {
      for (const s of this.servers) {
        if (!s.child || s.child.exitCode !== null || s.child.signalCode !== null) continue;
        const c = this.client(s.member.id);
        try {
          const st = (await c.call('Cluster', 'Status', {})) as { role: string; id: number };
          if (st.role === 'leader') return st.id;
        } catch {
          /* not up */
        } finally {
          c.close();
        }
      }
      return undefined;
    });
  }

  /**
   * Every member's process state, Raft status and last log lines: what a test prints when a
   * condition about the cluster does not come true, so a CI failure can be read after the fact.
   */
  async describe(logTailChars = 2000): Promise<string> {
    const parts: string[] = [];
    for (const s of this.servers) {
      const child = s.child;
      const proc = !child ? 'never started' : child.exitCode !== null ? `exited ${child.exitCode}` : child.signalCode !== null ? `killed by ${child.signalCode}` : `pid ${child.pid}`;
      const c = this.client(s.member.id);
      const status = await c.call('Cluster', 'Status', {}, 2000).then(
        (st) => JSON.stringify({ role: st['role'], term: st['term'], leader: st['leader'], commit: st['commit'], applied: st['applied'] }),
        (e: unknown) => `no status (${e instanceof Error ? e.message : String(e)})`,
      );
      c.close();
      parts.push(`member ${s.member.id}: ${proc}; ${status}\n${s.log.slice(-logTailChars)}`);
    }
    return parts.join('\n---\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.kill('SIGKILL')));
    for (const d of this.#dirs) await rm(d, { recursive: true, force: true });
  }
}

/** The error a call failed with (fails the test if it succeeded). */
export async function rpcError(p: Promise<unknown>): Promise<RpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RpcError)) throw new Error(`expected an RpcError, got ${String(err)}`);
  return err;
}

/** Clients opened by a test, closed after it. */
export class TestClients {
  readonly #open: Client[] = [];

  of(cluster: Cluster, id: number): Client {
    const c = cluster.client(id);
    this.#open.push(c);
    return c;
  }

  closeAll(): void {
    for (const c of this.#open.splice(0)) c.close();
  }
}

export class RpcError extends Error {
  constructor(
    readonly grpcCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type ServiceName = 'Conclave' | 'Cluster' | 'Health' | 'Access' | 'Locks';

export class Client {
  readonly #clients: Record<ServiceName, grpc.Client>;
  /** A bearer token sent with every call (auth on), if given. */
  readonly #token: string | undefined;

  constructor(address: string, opts: { token?: string } = {}) {
    this.#token = opts.token;
    const api = loadApi();
    const creds = grpc.credentials.createInsecure();
    // Its own connections, retried every second at most: gRPC's shared ones back off up to two
    // minutes after a member was down for a while, so a restarted member would look dead for that long.
    const channel = new grpc.Channel(address, creds, { 'grpc.use_local_subchannel_pool': 1, 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 });
    const on = { channelOverride: channel };
    this.#clients = { Conclave: new api.Conclave(address, creds, on), Cluster: new api.Cluster(address, creds, on), Health: new api.Health(address, creds, on), Access: new api.Access(address, creds, on), Locks: new api.Locks(address, creds, on) };
  }

  #metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.#token !== undefined) md.set('authorization', `Bearer ${this.#token}`);
    return md;
  }

  call(service: ServiceName, method: string, req: object, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const client = this.#clients[service] as unknown as Record<
      string,
      (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void
    >;
    const fn = client[method];
    if (!fn) throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, req, this.#metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new RpcError(err.code, String(err.metadata?.get(CODE_METADATA_KEY)[0] ?? ''), err.details));
        else resolve(res);
      });
    });
  }

  /** Every message of a server-streaming call. */
  serverStream(service: 'Conclave' | 'Cluster', method: string, req: object): Promise<Record<string, unknown>[]> {
    const client = this.#clients[service] as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<Record<string, unknown>>>;
    const fn = client[method];
    if (!fn) throw new Error(`no method ${method}`);
    const call = fn.call(client, req, this.#metadata());
    const out: Record<string, unknown>[] = [];
    return new Promise((resolve, reject) => {
      call.on('data', (m: Record<string, unknown>) => out.push(m));
      call.on('error', (err: grpc.ServiceError) => reject(new RpcError(err.code, String(err.metadata?.get(CODE_METADATA_KEY)[0] ?? ''), err.details)));
      call.on('end', () => resolve(out));
    });
  }

  /** A session stream (Conclave.Session) on this client's connection. */
  stream(): StreamClient {
    return new StreamClient(this.#clients.Conclave, this.#metadata());
  }

  close(): void {
    for (const c of Object.values(this.#clients)) c.close();
  }
}

type Frame = Record<string, unknown>;

/** The test side of a session stream: requests answered by id; watch events and progress collected. */
export class StreamClient {
  readonly #call: grpc.ClientDuplexStream<object, Frame>;
  readonly #waiting = new Map<number, (f: Frame) => void>();
  /** Watch events and progress frames, in arrival order. */
  readonly pushed: Frame[] = [];
  ended = false;
  /** The status the stream failed with, if it did. */
  error: RpcError | undefined;
  #next = 1;

  constructor(client: grpc.Client, metadata: grpc.Metadata = new grpc.Metadata()) {
    this.#call = (client as unknown as { Session(md: grpc.Metadata): grpc.ClientDuplexStream<object, Frame> }).Session(metadata);
    this.#call.on('data', (f: Frame) => {
      if (f['result'] === 'event' || f['result'] === 'progress' || (f['result'] === 'error' && !this.#waiting.has(f['id'] as number))) {
        this.pushed.push(f);
        return;
      }
      const w = this.#waiting.get(f['id'] as number);
      this.#waiting.delete(f['id'] as number);
      w?.(f);
    });
    this.#call.on('error', (err: grpc.ServiceError) => {
      this.error = new RpcError(err.code, String(err.metadata?.get(CODE_METADATA_KEY)[0] ?? ''), err.details);
    });
    this.#call.on('end', () => {
      this.ended = true;
    });
  }

  /** Send one frame (`op` is the oneof field, e.g. 'create') and resolve with its answer frame. */
  request(op: string, body: object, id = this.#next++): Promise<Frame> {
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#call.write({ id, [op]: body });
    });
  }

  /** Send a raw frame without waiting. */
  write(frame: object): void {
    this.#call.write(frame);
  }

  end(): void {
    this.#call.end();
  }

  /** Stop (or resume) reading frames, as a slow consumer would. */
  pause(): void {
    this.#call.pause();
  }

  resume(): void {
    this.#call.resume();
  }

  cancel(): void {
    this.#call.cancel();
  }
}
