#!/usr/bin/env node
/**
 * The `conclave` command: `conclave server [options]` runs a replica; `conclave snapshot inspect
 * FILE [--json]` shows a snapshot. The client commands arrive with the CLI issue.
 */
import { isConclaveError } from '../common/errors.js';
import { runServer } from './server-command.js';
import { formatSnapshotReport, inspectSnapshot } from './snapshot-inspect.js';

const USAGE = 'usage: conclave server [options]   (conclave server --help)\n       conclave snapshot inspect FILE [--json]\n';

async function main(argv: readonly string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  if (group === 'server') return runServer(argv.slice(1));
  if (group === 'snapshot' && command === 'inspect') {
    const json = rest.includes('--json');
    const files = rest.filter((a) => a !== '--json');
    if (files.length !== 1) {
      process.stderr.write(`conclave: snapshot inspect needs exactly one FILE\n${USAGE}`);
      return 2;
    }
    const report = await inspectSnapshot(files[0] as string);
    process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatSnapshotReport(report));
    return 0;
  }
  process.stderr.write(group === undefined || group === '--help' || group === 'help' ? USAGE : `conclave: unknown command "${argv.join(' ')}"\n${USAGE}`);
  return group === '--help' || group === 'help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const message = isConclaveError(err) ? err.message : err instanceof Error ? err.message : String(err);
    process.stderr.write(`conclave: ${message}\n`);
    process.exitCode = 1;
  },
);
