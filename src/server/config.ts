/**
 * Server configuration from flags, environment (CONCLAVE_*) and an optional JSON file, in that
 * order of precedence, validated at start with errors that say what to fix.
 */
import { readFileSync } from 'node:fs';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { NodeId } from '../raft/index.js';
import { type ClientPortTls, type PeerTls, TLS_RELOAD_MS_DEFAULT, parseClientPortTls, parsePeerTls } from '../security/tls.js';

export interface MemberAddress {
  /** host:port of the member's peer (Raft) listener. */
  readonly peer: string;
  /** host:port of the member's client API listener. */
  readonly client: string;
}

export interface ServerConfig {
  readonly id: NodeId;
  readonly dataDir: string;
  readonly listen: string;
  readonly peerListen: string;
  /** host:port for /metrics, /livez and /readyz over HTTP. */
  readonly metricsListen: string;
  /**
   * Founding members (id → addresses), this replica among them; with `join`, the members of the
   * running cluster to reach first (the replicated member list takes over once it arrives).
   */
  readonly members: ReadonlyMap<NodeId, MemberAddress>;
  /** Join a running cluster (after `member add`) instead of founding one: never bootstrap. */
  readonly join: boolean;
  /**
   * Members to dial at another address than the peer address they advertise (a proxy, NAT):
   * id → host:port. Only this replica's outgoing peer connections use it.
   */
  readonly peerDial: ReadonlyMap<NodeId, string>;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly snapshotEveryEntries: number;
  readonly sessionTimeoutMsMin: number;
  readonly sessionTimeoutMsMax: number;
  /** Open sessions one client host may hold (0: no limit), like ZooKeeper's maxClientCnxns. */
  readonly maxSessionsPerClient: number;
  /** Requests one session stream may have in flight. */
  readonly maxOutstandingPerStream: number;
  /** The watch history window (for resumes): most events and bytes kept. */
  readonly watchHistoryEvents: number;
  readonly watchHistoryBytes: number;
  /** Watches one stream may hold, and in all. */
  readonly watchesPerStream: number;
  readonly watchesMax: number;
  /** Unread event bytes past which a watcher is cut off (it may resume). */
  readonly watchBufferBytes: number;
  /** How often idle watches hear the current zxid (progress notification). */
  readonly watchProgressMs: number;
  readonly logLevel: string;
  /** TLS on the client port (undefined: plaintext). */
  readonly tls: ClientPortTls | undefined;
  /** Mutual TLS on the peer port, and for dialing peers (undefined: plaintext). */
  readonly peerTls: PeerTls | undefined;
  /** How often certificate files are read again (a rotated certificate reaches new connections). */
  readonly tlsReloadMs: number;
  /** Authentication and ACLs: on by default when the client port has TLS. */
  readonly auth: boolean;
  /** The secret (file) bearer tokens are signed with; without one, only client certificates identify. */
  readonly authTokenSecretFile: string | undefined;
  /** Per-session rate limits (0: none): operations and request bytes per second. */
  readonly sessionRateOps: number;
  readonly sessionRateBytes: number;
  /** The audit log's file (`-`: stdout); undefined: no audit log. */
  readonly auditLog: string | undefined;
}

/** flag name → [env var, description]; the README's configuration table lists the same. */
export const SERVER_OPTIONS = {
  config: ['CONCLAVE_CONFIG', 'a JSON file with any of these options (camelCase keys)'],
  id: ['CONCLAVE_ID', 'this member id (positive integer; default 1)'],
  data: ['CONCLAVE_DATA', 'data directory (default ./data)'],
  listen: ['CONCLAVE_LISTEN', 'client API host:port (default 127.0.0.1:4180)'],
  'peer-listen': ['CONCLAVE_PEER_LISTEN', 'peer (Raft) host:port (default 127.0.0.1:4190)'],
  'metrics-listen': ['CONCLAVE_METRICS_LISTEN', 'HTTP host:port for /metrics, /livez, /readyz (default 127.0.0.1:4280)'],
  members: ['CONCLAVE_MEMBERS', 'founding members: id=peerHost:port/clientHost:port,… (default: this member alone)'],
  join: ['CONCLAVE_JOIN', 'join a running cluster that already added this member (see `member add`) instead of founding one'],
  'peer-dial': ['CONCLAVE_PEER_DIAL', 'dial member ID at this address instead of its advertised peer address (a proxy, NAT): ID=host:port,…'],
  'tick-ms': ['CONCLAVE_TICK_MS', 'Raft tick (default 100)'],
  'election-ticks': ['CONCLAVE_ELECTION_TICKS', 'election timeout in ticks, randomized up to twice (default 10)'],
  'snapshot-every': ['CONCLAVE_SNAPSHOT_EVERY', 'entries between snapshots, at least (default 10000; also a quarter of the znodes)'],
  'session-timeout-min-ms': ['CONCLAVE_SESSION_TIMEOUT_MIN_MS', 'smallest session timeout granted (default 1000)'],
  'session-timeout-max-ms': ['CONCLAVE_SESSION_TIMEOUT_MAX_MS', 'largest session timeout granted (default 60000)'],
  'max-sessions-per-client': ['CONCLAVE_MAX_SESSIONS_PER_CLIENT', 'open sessions one client host may hold, 0 for no limit (default 1000)'],
  'max-outstanding-per-stream': ['CONCLAVE_MAX_OUTSTANDING_PER_STREAM', 'requests in flight on one session stream (default 4096)'],
  'watch-history-events': ['CONCLAVE_WATCH_HISTORY_EVENTS', 'events kept for watch resumes (default 100000)'],
  'watch-history-bytes': ['CONCLAVE_WATCH_HISTORY_BYTES', 'bytes of events kept for watch resumes (default 67108864)'],
  'watches-per-stream': ['CONCLAVE_WATCHES_PER_STREAM', 'watches one session stream may hold (default 10000)'],
  'watches-max': ['CONCLAVE_WATCHES_MAX', 'watches this replica holds in all (default 1000000)'],
  'watch-buffer-bytes': ['CONCLAVE_WATCH_BUFFER_BYTES', 'unread event bytes before a slow watcher is cut off (default 8388608)'],
  'watch-progress-ms': ['CONCLAVE_WATCH_PROGRESS_MS', 'interval of progress notifications to idle watches (default 10000)'],
  'log-level': ['CONCLAVE_LOG_LEVEL', 'pino level: fatal, error, warn, info, debug, trace (default info)'],
  'tls-cert': ['CONCLAVE_TLS_CERT', 'client port: PEM certificate (chain) to serve TLS with (with --tls-key)'],
  'tls-key': ['CONCLAVE_TLS_KEY', 'client port: PEM private key of --tls-cert'],
  'tls-ca': ['CONCLAVE_TLS_CA', 'client port: PEM CA certificate(s) that sign client certificates'],
  'tls-client-auth': ['CONCLAVE_TLS_CLIENT_AUTH', 'client certificates: none, request (verified if sent) or require (default: require with --tls-ca, else none)'],
  'peer-tls-cert': ['CONCLAVE_PEER_TLS_CERT', 'peer port: this member\'s PEM certificate, served and presented when dialing peers (mutual TLS; with --peer-tls-key, --peer-tls-ca)'],
  'peer-tls-key': ['CONCLAVE_PEER_TLS_KEY', 'peer port: PEM private key of --peer-tls-cert'],
  'peer-tls-ca': ['CONCLAVE_PEER_TLS_CA', 'peer port: PEM CA certificate(s) of the cluster; a peer without a certificate from it is refused'],
  'tls-reload-ms': ['CONCLAVE_TLS_RELOAD_MS', 'how often certificate files are read again; new connections use changed ones (default 5000)'],
  auth: ['CONCLAVE_AUTH', 'authentication and ACLs: on or off (default: on when the client port has TLS, else off)'],
  'auth-token-secret-file': ['CONCLAVE_AUTH_TOKEN_SECRET_FILE', 'file with the secret (at least 32 bytes) bearer tokens are signed with; every member needs the same'],
  'session-rate-ops': ['CONCLAVE_SESSION_RATE_OPS', 'operations per second one session (or one client host without a session) may send, 0 for no limit (default 0)'],
  'session-rate-bytes': ['CONCLAVE_SESSION_RATE_BYTES', 'request bytes per second one session may send, 0 for no limit (default 0)'],
  'audit-log': ['CONCLAVE_AUDIT_LOG', 'write an audit log (JSON lines: who changed or was refused what) to this file, - for stdout (default: none)'],
} as const;

type OptionName = keyof typeof SERVER_OPTIONS;

/** Options that are switches: `--join` alone means true. */
const SWITCHES: ReadonlySet<string> = new Set(['join']);

function bad(message: string): ConclaveError {
  return new ConclaveError(ErrorCode.INVALID_ARGUMENT, message);
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function parseServerConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const flags = new Map<OptionName, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw bad(`unexpected argument "${arg}"`);
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!(rawName in SERVER_OPTIONS)) throw bad(`unknown option --${rawName}; known: ${Object.keys(SERVER_OPTIONS).map((k) => `--${k}`).join(', ')}`);
    const value = inline ?? (SWITCHES.has(rawName) ? 'true' : argv[++i]);
    if (value === undefined) throw bad(`--${rawName} needs a value`);
    flags.set(rawName as OptionName, value);
  }
  const configPath = flags.get('config') ?? env[SERVER_OPTIONS.config[0]];
  let file: Record<string, unknown> = {};
  if (configPath) {
    try {
      file = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (err: unknown) {
      throw bad(`cannot read config file ${configPath}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const get = (name: OptionName): string | undefined => {
    const fromFile = file[camel(name)];
    return flags.get(name) ?? env[SERVER_OPTIONS[name][0]] ?? (fromFile === undefined ? undefined : String(fromFile));
  };
  const int = (name: OptionName, dflt: number, min: number): number => {
    const raw = get(name);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) throw bad(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
  const address = (name: OptionName, dflt: string): string => {
    const raw = get(name) ?? dflt;
    if (!/^[^\s:]+:\d{1,5}$/.test(raw)) throw bad(`--${name} must be host:port, got "${raw}"`);
    return raw;
  };

  const id = int('id', 1, 1);
  const listen = address('listen', '127.0.0.1:4180');
  const peerListen = address('peer-listen', '127.0.0.1:4190');
  const metricsListen = address('metrics-listen', '127.0.0.1:4280');
  const members = parseMembers(get('members'), id, peerListen, listen);
  const sessionTimeoutMsMin = int('session-timeout-min-ms', 1000, 1);
  const sessionTimeoutMsMax = int('session-timeout-max-ms', 60_000, 1);
  if (sessionTimeoutMsMax < sessionTimeoutMsMin) throw bad('--session-timeout-max-ms must be at least --session-timeout-min-ms');
  const joinRaw = get('join') ?? 'false';
  if (joinRaw !== 'true' && joinRaw !== 'false') throw bad(`--join must be true or false, got "${joinRaw}"`);
  const logLevel = get('log-level') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) throw bad(`--log-level must be a pino level, got "${logLevel}"`);
  return {
    id,
    dataDir: get('data') ?? './data',
    listen,
    peerListen,
    metricsListen,
    members,
    join: joinRaw === 'true',
    peerDial: parsePeerDial(get('peer-dial'), id),
    tickMs: int('tick-ms', 100, 1),
    electionTicks: int('election-ticks', 10, 2),
    snapshotEveryEntries: int('snapshot-every', 10_000, 1),
    sessionTimeoutMsMin,
    sessionTimeoutMsMax,
    maxSessionsPerClient: int('max-sessions-per-client', 1000, 0),
    maxOutstandingPerStream: int('max-outstanding-per-stream', 4096, 1),
    watchHistoryEvents: int('watch-history-events', 100_000, 1),
    watchHistoryBytes: int('watch-history-bytes', 64 * 1024 * 1024, 1024),
    watchesPerStream: int('watches-per-stream', 10_000, 1),
    watchesMax: int('watches-max', 1_000_000, 1),
    watchBufferBytes: int('watch-buffer-bytes', 8 * 1024 * 1024, 1024),
    watchProgressMs: int('watch-progress-ms', 10_000, 10),
    logLevel,
    tls: parseClientPortTls({ cert: get('tls-cert'), key: get('tls-key'), ca: get('tls-ca'), clientAuth: get('tls-client-auth') }),
    peerTls: parsePeerTls({ cert: get('peer-tls-cert'), key: get('peer-tls-key'), ca: get('peer-tls-ca') }),
    tlsReloadMs: int('tls-reload-ms', TLS_RELOAD_MS_DEFAULT, 10),
    ...authOptions(get, int),
  };
}

function authOptions(get: (name: OptionName) => string | undefined, int: (name: OptionName, dflt: number, min: number) => number): Pick<ServerConfig, 'auth' | 'authTokenSecretFile' | 'sessionRateOps' | 'sessionRateBytes' | 'auditLog'> {
  const tlsOn = get('tls-cert') !== undefined;
  const raw = get('auth') ?? (tlsOn ? 'on' : 'off');
  if (raw !== 'on' && raw !== 'off') throw bad(`--auth must be on or off, got "${raw}"`);
  const auth = raw === 'on';
  const authTokenSecretFile = get('auth-token-secret-file');
  if (authTokenSecretFile !== undefined && !auth) throw bad('--auth-token-secret-file needs --auth on (tokens identify callers only when auth is on)');
  if (auth && get('tls-ca') === undefined && authTokenSecretFile === undefined) {
    const why = get('auth') === undefined ? 'TLS is on, so auth is on by default, but' : 'auth is on, but';
    throw bad(`${why} no caller could ever be identified: give --tls-ca (client certificates) or --auth-token-secret-file (bearer tokens), or --auth off`);
  }
  const auditLog = get('audit-log');
  return { auth, authTokenSecretFile, sessionRateOps: int('session-rate-ops', 0, 0), sessionRateBytes: int('session-rate-bytes', 0, 0), ...{ auditLog: auditLog === '' ? undefined : auditLog } };
}

function parseMembers(raw: string | undefined, self: NodeId, peerListen: string, listen: string): Map<NodeId, MemberAddress> {
  if (raw === undefined || raw.trim() === '') return new Map([[self, { peer: peerListen, client: listen }]]);
  const members = parseMemberList(raw);
  if (!members.has(self)) throw bad(`this member (--id ${self}) is not in --members (${[...members.keys()].join(', ')})`);
  return members;
}

/** `id=peerHost:port/clientHost:port,…` → id → addresses. */
export function parseMemberList(raw: string): Map<NodeId, MemberAddress> {
  const members = new Map<NodeId, MemberAddress>();
  for (const part of raw.split(',')) {
    const m = /^\s*(\d+)=([^\s/:]+:\d{1,5})\/([^\s/:]+:\d{1,5})\s*$/.exec(part);
    if (!m) throw bad(`--members entry "${part}" must look like 2=127.0.0.1:4191/127.0.0.1:4181 (id=peer/client)`);
    const id = Number(m[1]);
    if (!Number.isSafeInteger(id) || id < 1) throw bad(`member id in "${part}" must be a positive integer`);
    if (members.has(id)) throw bad(`member ${id} is listed twice in --members`);
    members.set(id, { peer: m[2] as string, client: m[3] as string });
  }
  return members;
}

/** `id=host:port,…` (--peer-dial) → id → the address to dial that member at. */
export function parsePeerDial(raw: string | undefined, self: NodeId): Map<NodeId, string> {
  const dial = new Map<NodeId, string>();
  if (raw === undefined || raw.trim() === '') return dial;
  for (const part of raw.split(',')) {
    const m = /^\s*(\d+)=([^\s/:]+:\d{1,5})\s*$/.exec(part);
    if (!m) throw bad(`--peer-dial entry "${part}" must look like 2=127.0.0.1:5192 (id=host:port)`);
    const id = Number(m[1]);
    if (!Number.isSafeInteger(id) || id < 1) throw bad(`member id in --peer-dial entry "${part}" must be a positive integer`);
    if (id === self) throw bad(`--peer-dial names this member (${self}); it only redirects connections to other members`);
    if (dial.has(id)) throw bad(`member ${id} is listed twice in --peer-dial`);
    dial.set(id, m[2] as string);
  }
  return dial;
}
