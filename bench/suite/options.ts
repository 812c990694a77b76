/** `npm run bench -- [flags]`: the harness's command line. */
import { SYSTEM_NAMES, type SystemName } from './systems.js';

export const WORKLOADS = ['w1', 'w1f', 'w64', 'r64lin', 'r64local', 'watch100', 'watch1000r10', 'watch1000', 'lock1', 'lock10', 'lock100', 'load', 'start'] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

export interface WatchShape {
  watchers: number;
  ratePerSec: number;
  durationMs: number;
}

export interface LockShape {
  contenders: number;
  /** The contenders run this long before the window that counts. */
  warmupMs: number;
  durationMs: number;
}

export interface Options {
  systems: SystemName[];
  workloads: WorkloadId[];
  quick: boolean;
  repeat: number;
  /** Duration of each closed-loop cell. */
  closedLoopMs: { w1: number; w1f: number; w64: number; r64lin: number; r64local: number };
  watch: Partial<Record<WorkloadId, WatchShape>>;
  lock: Partial<Record<WorkloadId, LockShape>>;
  loadNodes: number;
  restartNodes: number;
  /** Reruns of a cell during which other processes used more than NOISY_PCT of the CPU. */
  noisyRetries: number;
  install: boolean;
  keep: boolean;
  cpuProfDir: string | undefined;
  out: string | undefined;
}

export const NOISY_PCT = 10;

const USAGE = `usage: npm run bench -- [--quick] [--repeat N] [--only conclave|etcd|zookeeper]... [--workloads a,b]
  [--load-nodes N] [--restart-nodes N] [--noisy-retries N] [--install] [--keep] [--cpu-prof DIR] [--out FILE]
workloads: ${WORKLOADS.join(', ')}`;

export function parseOptions(argv: string[]): Options {
  const only: SystemName[] = [];
  let workloads: WorkloadId[] | undefined;
  const flags = new Set<string>();
  const nums: Record<string, number> = {};
  const strs: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--quick' || a === '--install' || a === '--keep') flags.add(a);
    else if (a === '--only') {
      const s = next();
      if (!(SYSTEM_NAMES as readonly string[]).includes(s)) throw new Error(`--only: unknown system ${s}\n${USAGE}`);
      only.push(s as SystemName);
    } else if (a === '--workloads') {
      workloads = next().split(',').map((w) => {
        if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workloads: unknown workload ${w}\n${USAGE}`);
        return w as WorkloadId;
      });
    } else if (['--repeat', '--load-nodes', '--restart-nodes', '--noisy-retries'].includes(a)) {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} needs a whole number\n${USAGE}`);
      nums[a] = n;
    } else if (a === '--cpu-prof' || a === '--out') strs[a] = next();
    else if (a === '--help' || a === '-h') throw new Error(USAGE);
    else throw new Error(`unknown flag ${a}\n${USAGE}`);
  }
  const quick = flags.has('--quick');
  // --quick runs lock10 only, unless --workloads names the others.
  workloads ??= WORKLOADS.filter((w) => !quick || (w !== 'lock1' && w !== 'lock100'));
  const lock = (contenders: number): LockShape => ({ contenders, warmupMs: quick ? 500 : 1000, durationMs: quick ? 1500 : 8000 });
  const loadNodes = nums['--load-nodes'] ?? (quick ? 10_000 : 100_000);
  const cl = quick ? 1500 : 0;
  return {
    systems: only.length > 0 ? SYSTEM_NAMES.filter((s) => only.includes(s)) : [...SYSTEM_NAMES],
    workloads,
    quick,
    repeat: Math.max(1, nums['--repeat'] ?? (quick ? 1 : 3)),
    closedLoopMs: { w1: cl || 5000, w1f: cl || 5000, w64: cl || 10_000, r64lin: cl || 8000, r64local: cl || 8000 },
    watch: quick
      ? { watch100: { watchers: 100, ratePerSec: 50, durationMs: 3000 } }
      : {
          watch100: { watchers: 100, ratePerSec: 50, durationMs: 10_000 },
          watch1000r10: { watchers: 1000, ratePerSec: 10, durationMs: 15_000 },
          watch1000: { watchers: 1000, ratePerSec: 50, durationMs: 10_000 },
        },
    lock: { lock1: lock(1), lock10: lock(10), lock100: lock(100) },
    loadNodes,
    restartNodes: Math.max(nums['--restart-nodes'] ?? loadNodes, loadNodes),
    noisyRetries: nums['--noisy-retries'] ?? (quick ? 0 : 1),
    install: flags.has('--install'),
    keep: flags.has('--keep'),
    cpuProfDir: strs['--cpu-prof'],
    out: strs['--out'],
  };
}
