/**
 * `npm run fault -- [--time SECONDS | --rounds N] [--nodes 3|5] [--seed N] [--out DIR] [--faults a,b]
 *  [--workloads a,b] [--check-budget-ms N] [--unsafe MODE]`
 *
 * One fault run against real processes (see README, "Guarantees and how we test them"). Prints
 * progress on stderr and the summary on stdout; exits 1 if a checker found a violation.
 */
import { randomInt } from 'node:crypto';
import { FAULT_KINDS, parseFaultKinds } from './nemesis/schedule.js';
import { WORKLOADS, type WorkloadName, runFault } from './run.js';

const USAGE = `usage: npm run fault -- [options]
  --time SECONDS        inject faults for this long (default 60), then stop, read back and check
  --rounds N            instead: N full rounds of the schedule (each round: every fault kind once)
  --nodes N             cluster size, 3 or 5 (default 3)
  --seed N              the schedule's seed (default: random, printed)
  --out DIR             where run directories go (default test-results/fault)
  --faults a,b,...      only these fault kinds (${FAULT_KINDS.join(', ')})
  --workloads a,b,...   only these workloads (${WORKLOADS.join(', ')})
  --check-budget-ms N   linearizability search budget (default 60000); keys it cannot decide are "unknown"
  --unsafe MODE         start the servers with CONCLAVE_FAULT_UNSAFE=MODE (a deliberate bug; local-reads)
`;

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Parameters<typeof runFault>[0] {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') throw new UsageError('');
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const value = argv[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    values.set(arg.slice(2), value);
  }
  const int = (name: string, dflt: number, min: number): number => {
    const raw = values.get(name);
    values.delete(name);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
  const nodes = int('nodes', 3, 3);
  if (nodes !== 3 && nodes !== 5) throw new UsageError(`--nodes must be 3 or 5, got ${nodes}`);
  const rounds = values.has('rounds') ? int('rounds', 1, 1) : undefined;
  const durationMs = int('time', 60, 1) * 1000;
  const seed = int('seed', randomInt(1, 0x7fffffff), 0);
  const checkBudgetMs = int('check-budget-ms', 60_000, 100);
  const outDir = values.get('out') ?? 'test-results/fault';
  const kinds = values.has('faults') ? parseFaultKinds(values.get('faults') as string) : undefined;
  const workloads = values.has('workloads') ? (values.get('workloads') as string).split(',').map((w) => w.trim()) : undefined;
  for (const w of workloads ?? []) if (!(WORKLOADS as readonly string[]).includes(w)) throw new UsageError(`unknown workload "${w}"; known: ${WORKLOADS.join(', ')}`);
  const unsafe = values.get('unsafe');
  for (const known of ['out', 'faults', 'workloads', 'unsafe']) values.delete(known);
  if (values.size > 0) throw new UsageError(`unknown option --${[...values.keys()][0]}`);
  return {
    seed,
    nodes,
    ...(rounds !== undefined ? { rounds } : { durationMs }),
    outDir,
    checkBudgetMs,
    ...(kinds ? { kinds } : {}),
    ...(workloads ? { workloads: workloads as WorkloadName[] } : {}),
    ...(unsafe ? { unsafe } : {}),
  };
}

async function main(): Promise<number> {
  let opts: Parameters<typeof runFault>[0];
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err: unknown) {
    if (!(err instanceof UsageError) && !(err instanceof Error && err.message.startsWith('unknown fault kind'))) throw err;
    if (err.message) process.stderr.write(`fault: ${err.message}\n`);
    process.stderr.write(USAGE);
    return 2;
  }
  const result = await runFault(opts);
  process.stdout.write(`${result.report}\n`);
  return result.violations.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fault: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(3);
  },
);
