/** The one command that replays a simulation exactly. */
import type { SimOptions } from './simulation.js';

export function replayCommand(seed: number, opts: Omit<SimOptions, 'seed'>): string {
  const parts = ['npm run sim --', `--seed ${seed}`];
  if (opts.nodes) parts.push(`--nodes ${opts.nodes}`);
  if (opts.steps !== undefined) parts.push(`--steps ${opts.steps}`);
  if (opts.app) parts.push(`--app ${opts.app}`);
  for (const m of [...(opts.raftMutations ?? []), ...(opts.shellMutations ?? [])]) parts.push(`--mutation ${m}`);
  return parts.join(' ');
}
