#!/usr/bin/env node
/**
 * The `conclave` command: `conclave server` runs a replica; the client commands (`get`, `ls`,
 * `watch`, `status`, `member add`, `snapshot save`, ...) talk to a running cluster. `conclave
 * --help` lists them; `conclave COMMAND --help` describes one.
 */
import { isConclaveError } from '../common/errors.js';
import { silenceIpServerNameWarning } from '../security/tls.js';
import { certsCommands } from './certs-command.js';
import { clusterCommands } from './cluster-commands.js';
import { type CommandSpec, commandUsage, parseCommand } from './command.js';
import { EXIT, errorLine, exitCodeOf } from './output.js';
import { k8sCommands, runK8sStart } from './k8s-commands.js';
import { runServer } from './server-command.js';
import { lockCommands } from './lock-commands.js';
import { accessCommands } from './access-commands.js';
import { treeCommands } from './tree-commands.js';

const COMMANDS: readonly CommandSpec[] = [...treeCommands, ...lockCommands, ...clusterCommands, ...accessCommands, ...k8sCommands, ...certsCommands];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length));
  const lines = COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary.split('. ')[0]?.replace(/\.$/, '')}`);
  return [
    'usage: conclave COMMAND [ARGS] [--endpoints host:port,...] [--json]',
    '',
    `  ${'server [options]'.padEnd(width)}  run one replica (conclave server --help)`,
    `  ${'k8s start'.padEnd(width)}  run a StatefulSet pod's replica: found, join or restore the cluster (conclave k8s start --help)`,
    ...lines,
    '',
    'Every client command takes --endpoints (or CONCLAVE_ENDPOINTS; default 127.0.0.1:4180), --json,',
    '--timeout-ms, --help, for a TLS cluster --tls-ca, --tls-cert, --tls-key (or CONCLAVE_TLS_CA, ...)',
    'and, for a cluster with auth on, --token (or CONCLAVE_TOKEN).',
    'Exit codes: 0 ok, 2 bad usage or input, 3 no such node, 4 conflict',
    '(exists, bad version, not empty), 5 unavailable (no member, no leader, timed out), 6 refused',
    '(UNAUTHENTICATED, PERMISSION_DENIED, QUOTA_EXCEEDED), 1 other.',
    '',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [first, second] = argv;
  if (first === 'server') return runServer(argv.slice(1));
  if (first === 'k8s' && second === 'start') return runK8sStart(argv.slice(2));
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage());
    return first === undefined ? EXIT.BAD_INPUT : EXIT.OK;
  }
  const spec = COMMANDS.find((c) => c.name === `${first} ${second ?? ''}`) ?? COMMANDS.find((c) => c.name === first);
  if (!spec) {
    process.stderr.write(`conclave: unknown command "${[first, second].filter(Boolean).join(' ')}"\n${usage()}`);
    return EXIT.BAD_INPUT;
  }
  const words = spec.name.split(' ').length;
  let ctx;
  try {
    ctx = parseCommand(spec, argv.slice(words), process.env);
  } catch (err: unknown) {
    process.stderr.write(`${errorLine(err)}${commandUsage(spec)}`);
    return EXIT.BAD_INPUT;
  }
  if (ctx.help) {
    process.stdout.write(commandUsage(spec));
    return EXIT.OK;
  }
  try {
    return await spec.run(ctx);
  } finally {
    ctx.admin().close();
  }
}

silenceIpServerNameWarning();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(errorLine(err));
    process.exitCode = isConclaveError(err) ? exitCodeOf(err) : EXIT.INTERNAL;
  },
);
