/** Median and range of each metric over the repetitions of a cell. */
import type { Sample } from './samples.js';

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export type Summary = Map<string, Record<string, Stat>>;

export const cellKey = (system: string, workload: string) => `${system}/${workload}`;

export function summarize(samples: Sample[]): Summary {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const k = cellKey(s.system, s.workload);
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  const out: Summary = new Map();
  for (const [k, group] of groups) {
    const metrics: Record<string, Stat> = {};
    for (const m of new Set(group.flatMap((s) => Object.keys(s.values)))) {
      const xs = group.map((s) => s.values[m]).filter((x): x is number => x !== undefined && !Number.isNaN(x));
      if (xs.length > 0) metrics[m] = { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
    }
    out.set(k, metrics);
  }
  return out;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** median(a) / median(b) for one metric of two systems' cells, if both were measured. */
export function ratio(summary: Summary, workload: string, metric: string, a: string, b: string): number | undefined {
  const x = summary.get(cellKey(a, workload))?.[metric]?.median;
  const y = summary.get(cellKey(b, workload))?.[metric]?.median;
  return x === undefined || y === undefined || y === 0 ? undefined : x / y;
}
