/**
 * The shape of a `conclave` client command and the options every one of them takes. Parsing is
 * `node:util` parseArgs (strict: unknown options are errors); usage text comes from the same specs.
 */
import { parseArgs } from 'node:util';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { type ClientTlsOptions, cliClientTls } from '../security/tls.js';
import type { ClientOptions } from '../client/types.js';
import { Admin } from './admin.js';
import { type Out, stdOut } from './output.js';

export type OptionSpec = { readonly type: 'boolean' | 'string'; readonly short?: string; readonly description: string };

export interface CommandContext {
  readonly args: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly out: Out;
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  /** TLS for connections to the cluster (from --tls-* or CONCLAVE_TLS_*); undefined: plaintext. */
  readonly tls: ClientTlsOptions | undefined;
  /** Bearer token for a cluster with auth on (from --token or CONCLAVE_TOKEN); undefined: none. */
  readonly token: string | undefined;
  /** What `Client.connect` needs to reach the cluster as this command was told to. */
  clientOptions(): ClientOptions;
  admin(): Admin;
}

export interface CommandSpec {
  /** One or two words: `get`, `member add`. */
  readonly name: string;
  readonly args: string;
  readonly summary: string;
  readonly options?: Readonly<Record<string, OptionSpec>>;
  readonly positionals: readonly [number, number];
  run(ctx: CommandContext): Promise<number>;
}

export const COMMON_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  endpoints: { type: 'string', description: 'comma-separated host:port of members (env CONCLAVE_ENDPOINTS; default 127.0.0.1:4180)' },
  json: { type: 'boolean', description: 'machine output: JSON on stdout' },
  'timeout-ms': { type: 'string', description: 'give up after this long (default 10000)' },
  tls: { type: 'boolean', description: 'connect with TLS (implied by the --tls-* options; without --tls-ca the system CAs verify the members)' },
  'tls-ca': { type: 'string', description: 'PEM file of the CA that signs the members\' certificates (env CONCLAVE_TLS_CA)' },
  'tls-cert': { type: 'string', description: 'PEM file of this client\'s certificate, for a cluster that asks for one (env CONCLAVE_TLS_CERT)' },
  'tls-key': { type: 'string', description: 'PEM file of its private key (env CONCLAVE_TLS_KEY)' },
  'tls-server-name': { type: 'string', description: 'check members\' certificates against this name, not the address dialled (env CONCLAVE_TLS_SERVER_NAME)' },
  token: { type: 'string', description: 'bearer token for a cluster with auth on (env CONCLAVE_TOKEN, better: arguments show in ps)' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
};

export function bad(message: string): ConclaveError {
  return new ConclaveError(ErrorCode.BAD_ARGUMENTS, message);
}

export function commandUsage(spec: CommandSpec): string {
  const opts = Object.entries({ ...(spec.options ?? {}), ...COMMON_OPTIONS }).map(
    ([name, o]) => `  ${`${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' VALUE' : ''}`.padEnd(28)} ${o.description}`,
  );
  return `usage: conclave ${spec.name}${spec.args ? ` ${spec.args}` : ''}\n${spec.summary}\n\noptions:\n${opts.join('\n')}\n`;
}

/** Parse `argv` (after the command words) for `spec`; BAD_ARGUMENTS with a clear message on any problem. */
export function parseCommand(spec: CommandSpec, argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CommandContext & { help: boolean } {
  const options = Object.fromEntries(Object.entries({ ...(spec.options ?? {}), ...COMMON_OPTIONS }).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }]));
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err: unknown) {
    throw bad(err instanceof Error ? err.message.replace(/\. To specify.*$/s, '') : String(err));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const help = values['help'] === true;
  const [min, max] = spec.positionals;
  if (!help && (parsed.positionals.length < min || parsed.positionals.length > max)) {
    throw bad(`${spec.name} takes ${min === max ? min : `${min} to ${max}`} argument(s) (${spec.args || 'none'}), got ${parsed.positionals.length}`);
  }
  const rawEndpoints = (values['endpoints'] as string | undefined) ?? env['CONCLAVE_ENDPOINTS'] ?? '127.0.0.1:4180';
  const endpoints = rawEndpoints.split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const e of endpoints) if (!/^[^\s:/]+:\d{1,5}$/.test(e)) throw bad(`endpoint "${e}" must be host:port`);
  const rawTimeout = values['timeout-ms'] as string | undefined;
  const timeoutMs = rawTimeout === undefined ? 10_000 : Number(rawTimeout);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw bad(`--timeout-ms must be a positive integer, got "${rawTimeout}"`);
  const tlsFlags = {
    tls: values['tls'] === true,
    ca: values['tls-ca'] as string | undefined,
    cert: values['tls-cert'] as string | undefined,
    key: values['tls-key'] as string | undefined,
    serverName: values['tls-server-name'] as string | undefined,
  };
  const tls = help ? undefined : cliClientTls(tlsFlags, env);
  const rawToken = (values['token'] as string | undefined) ?? env['CONCLAVE_TOKEN'];
  const token = rawToken === undefined || rawToken.trim() === '' ? undefined : rawToken.trim();
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw bad('--token (or CONCLAVE_TOKEN) must be one word of printable ASCII: a token from `conclave auth token`');
  let admin: Admin | undefined;
  return {
    help,
    args: parsed.positionals,
    values,
    out: stdOut(values['json'] === true),
    endpoints,
    timeoutMs,
    tls,
    token,
    clientOptions: () => ({ endpoints, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, tls, token }),
    admin: () => (admin ??= new Admin(endpoints, timeoutMs, { tls: tls ?? null, token: token ?? null })),
  };
}

export function intArg(value: string | undefined, what: string, min = 0): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isSafeInteger(n) || n < min) throw bad(`${what} must be an integer ≥ ${min}, got "${value ?? ''}"`);
  return n;
}
