/**
 * `npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--steps M] [--mutation NAME] [--verbose]`
 *
 * Runs N seeds starting at S (default: a seed from the time, printed), or exactly one seed with
 * --seed alone. A failing seed prints its trace tail and the one command that replays it.
 */
import { RAFT_MUTATIONS, type RaftMutation } from '../../src/raft/index.js';
import { replayCommand } from './replay.js';
import type { ShellMutation } from './sim-node.js';
import { type SimOptions, runSimulation } from './simulation.js';

const SHELL_MUTATIONS: readonly ShellMutation[] = ['ack-before-persist'];

interface CliArgs {
  seeds: number | undefined;
  seed: number | undefined;
  nodes: 3 | 5 | undefined;
  steps: number | undefined;
  mutations: string[];
  app: 'kv' | 'znode' | undefined;
  verbose: boolean;
  messages: boolean;
}

function usage(problem: string): never {
  process.stderr.write(`sim: ${problem}\nusage: npm run sim -- [--seeds N] [--seed S] [--nodes 3|5] [--steps M] [--app kv|znode] [--mutation NAME] [--verbose] [--messages]\n`);
  process.exit(2);
}

function intArg(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !Number.isSafeInteger(n) || n < 0) usage(`${name} needs a non-negative integer, got ${String(value)}`);
  return n;
}

function parse(argv: readonly string[]): CliArgs {
  const args: CliArgs = { seeds: undefined, seed: undefined, nodes: undefined, steps: undefined, mutations: [], app: undefined, verbose: false, messages: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--seeds':
        args.seeds = intArg(a, argv[++i]);
        break;
      case '--seed':
        args.seed = intArg(a, argv[++i]);
        break;
      case '--nodes': {
        const n = intArg(a, argv[++i]);
        if (n !== 3 && n !== 5) usage('--nodes must be 3 or 5');
        args.nodes = n;
        break;
      }
      case '--steps':
        args.steps = intArg(a, argv[++i]);
        break;
      case '--mutation': {
        const m = argv[++i] ?? '';
        if (![...RAFT_MUTATIONS, ...SHELL_MUTATIONS].includes(m as RaftMutation)) usage(`unknown mutation "${m}"; known: ${[...RAFT_MUTATIONS, ...SHELL_MUTATIONS].join(', ')}`);
        args.mutations.push(m);
        break;
      }
      case '--app': {
        const app = argv[++i];
        if (app !== 'kv' && app !== 'znode') usage('--app must be kv or znode');
        args.app = app;
        break;
      }
      case '--verbose':
        args.verbose = true;
        break;
      case '--messages':
        args.messages = true;
        args.verbose = true;
        break;
      default:
        usage(`unknown argument "${String(a)}"`);
    }
  }
  return args;
}

function main(): void {
  const args = parse(process.argv.slice(2));
  const single = args.seeds === undefined && args.seed !== undefined;
  const count = args.seeds ?? (single ? 1 : 100);
  // A starting seed from the wall clock is fine here: it is printed, and every run replays from it.
  const first = args.seed ?? (Date.now() % 1_000_000_000);
  const raftMutations = args.mutations.filter((m): m is RaftMutation => RAFT_MUTATIONS.includes(m as RaftMutation));
  const shellMutations = args.mutations.filter((m): m is ShellMutation => SHELL_MUTATIONS.includes(m as ShellMutation));
  const started = process.hrtime.bigint();
  let failed = 0;
  let unknown = 0;
  process.stdout.write(`simulating ${count} seed(s) from ${first}${args.mutations.length ? ` with mutations ${args.mutations.join(', ')}` : ''}\n`);
  for (let seed = first; seed < first + count; seed++) {
    const opts: SimOptions = {
      seed,
      ...(args.nodes ? { nodes: args.nodes } : {}),
      ...(args.steps !== undefined ? { steps: args.steps } : {}),
      ...(args.app ? { app: args.app } : {}),
      raftMutations,
      shellMutations,
      fullTrace: args.verbose,
      traceMessages: args.messages,
    };
    const result = runSimulation(opts);
    if (result.linearizability === 'unknown') unknown++;
    if (single || args.verbose) {
      for (const line of result.trace) process.stdout.write(`  ${line}\n`);
      process.stdout.write(`seed ${seed}: ${result.ok ? 'ok' : 'VIOLATION'} nodes=${result.nodes} ticks=${result.ticks} linearizability=${result.linearizability} fingerprint=${result.fingerprint}\n`);
      process.stdout.write(`  ${Object.entries(result.stats).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    }
    if (!result.ok) {
      failed++;
      if (!single && !args.verbose) for (const line of result.trace.slice(-30)) process.stdout.write(`  ${line}\n`);
      process.stdout.write(`seed ${seed} FAILED: ${result.violation}\n  replay: ${replayCommand(result.seed, opts)}\n`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${count} seed(s), ${failed} violation(s), ${unknown} linearizability unknown\n`);
  // Timing goes to stderr so that replaying a seed prints byte-identical stdout.
  process.stderr.write(`${seconds.toFixed(1)} s (${((count / seconds) * 60).toFixed(0)} seeds/min)\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main();
