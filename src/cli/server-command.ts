/**
 * `conclave server [options]`: run one replica until SIGINT/SIGTERM. Options: see SERVER_OPTIONS
 * (flags, CONCLAVE_* environment variables, or --config FILE).
 */
import pino from 'pino';
import { isConclaveError } from '../common/errors.js';
import { ConclaveServer } from '../server/conclave-server.js';
import { SERVER_OPTIONS, type ServerConfig, parseServerConfig } from '../server/config.js';

export function serverUsage(): string {
  const lines = Object.entries(SERVER_OPTIONS).map(([flag, [env, what]]) => `  --${flag.padEnd(24)} ${env.padEnd(32)} ${what}`);
  return `usage: conclave server [options]\n${lines.join('\n')}\n`;
}

export async function runServer(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(serverUsage());
    return 0;
  }
  let config;
  try {
    config = parseServerConfig(argv, process.env);
  } catch (err: unknown) {
    if (!isConclaveError(err)) throw err;
    process.stderr.write(`conclave server: ${err.message}\n${serverUsage()}`);
    return 2;
  }
  return serve(config, serverLogger(config));
}

/** The server's logger: pino JSON lines on stderr, each tagged with the member id. */
export function serverLogger(config: ServerConfig, extra: Record<string, unknown> = {}): pino.Logger {
  return pino({ level: config.logLevel, base: { member: config.id, ...extra } }, pino.destination(2));
}

/**
 * Run a replica until SIGINT/SIGTERM or until it stops itself (removed from the cluster, storage
 * failure); the exit code. `started` sees the running server (`conclave k8s start` promotes it).
 */
export async function serve(config: ServerConfig, log: pino.Logger, started?: (server: ConclaveServer) => void): Promise<number> {
  const server = await ConclaveServer.start(config, log);
  started?.(server);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    void server.stopped.then(resolve);
  });
  await server.stop();
  // A storage failure has set a non-zero exit code already.
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
