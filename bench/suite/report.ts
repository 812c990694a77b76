/** The stdout report: one Markdown table per workload, then the Conclave/peer ratios. */
import { NOISY_PCT, type WorkloadId } from './options.js';
import type { Sample } from './samples.js';
import { cellKey, ratio, type Stat, type Summary } from './stats.js';
import type { SystemName } from './systems.js';

interface Column {
  metric: string;
  head: string;
  digits: number;
}
interface RatioSpec {
  metric: string;
  label: string;
  better: 'higher' | 'lower';
}
interface Spec {
  title: string;
  columns: Column[];
  ratios: RatioSpec[];
}

const col = (metric: string, head: string, digits = 0): Column => ({ metric, head, digits });
const CPU = [col('clientCpuUsPerOp', 'client CPU µs/op'), col('serverCpuUsPerOp', 'server CPU µs/op'), col('otherCpuPct', 'other CPU %')];
const LAT = [col('opsPerSec', 'ops/s'), col('p50Ms', 'p50 ms', 2), col('p99Ms', 'p99 ms', 2), col('p999Ms', 'p99.9 ms', 2)];
const OPS: RatioSpec = { metric: 'opsPerSec', label: 'ops/s', better: 'higher' };
const P50: RatioSpec = { metric: 'p50Ms', label: 'p50', better: 'lower' };
const WATCH: Spec = {
  title: '',
  columns: [col('p50Ms', 'p50 ms', 2), col('p99Ms', 'p99 ms', 2), col('maxMs', 'max ms', 1), col('missedPct', 'missed %', 2), col('missedWorst', 'missed, worst attempt'), col('eventsPerSec', 'events/s'), col('offeredPerSec', 'offered/s'), col('lateWrites', 'writes late'), col('clientCpuUsPerEvent', 'client CPU µs/event'), col('serverCpuUsPerEvent', 'server CPU µs/event'), col('otherCpuPct', 'other CPU %')],
  ratios: [{ metric: 'p99Ms', label: 'p99', better: 'lower' }, { metric: 'p50Ms', label: 'p50', better: 'lower' }, { metric: 'eventsPerSec', label: 'events/s', better: 'higher' }],
};

const LOCK: Spec = {
  title: '',
  columns: [col('opsPerSec', 'hand-offs/s'), col('p50Ms', 'p50 ms', 2), col('p99Ms', 'p99 ms', 2), col('p999Ms', 'p99.9 ms', 2), col('violationsWorst', 'exclusion violations'), col('errors', 'errors'), col('clientCpuUsPerOp', 'client CPU µs/hand-off'), col('serverCpuUsPerOp', 'server CPU µs/hand-off'), col('otherCpuPct', 'other CPU %')],
  ratios: [{ metric: 'opsPerSec', label: 'hand-offs/s', better: 'higher' }, P50],
};
const LOCK_HOW = 'latency from the previous holder\'s release sent to the next grant; etcd: its v3lock service, ZooKeeper: a Curator-style recipe';

export const SPECS: Record<WorkloadId, Spec> = {
  w1: { title: 'w1: sequential writes to the leader', columns: [...LAT, ...CPU], ratios: [P50, OPS] },
  w1f: { title: 'w1f: sequential writes, client given only a follower (Conclave: the SDK is redirected to the leader and writes there)', columns: [...LAT, ...CPU], ratios: [P50, OPS] },
  w64: { title: 'w64: 64 writes in flight to the leader (stall: longest event-loop stall of a Conclave member)', columns: [...LAT, ...CPU, col('stallMs', 'stall ms', 1)], ratios: [OPS, P50] },
  r64lin: { title: 'r64lin: 64 linearizable reads in flight (ZooKeeper: sync + get)', columns: [...LAT, ...CPU], ratios: [OPS] },
  r64local: { title: 'r64local: 64 serializable reads in flight', columns: [...LAT, ...CPU], ratios: [OPS] },
  watch100: { ...WATCH, title: 'watch100: 1 writer at 50/s, 100 watchers; latency from the write\'s ack to each event' },
  watch1000r10: { ...WATCH, title: 'watch1000r10: 1 writer at 10/s, 1,000 watchers' },
  watch1000: { ...WATCH, title: 'watch1000: 1 writer at 50/s, 1,000 watchers (50k events/s offered)' },
  lock1: { ...LOCK, title: `lock1: 1 contender acquiring and releasing one lock (${LOCK_HOW})` },
  lock10: { ...LOCK, title: `lock10: 10 contenders on one lock, each its own session or lease (${LOCK_HOW})` },
  lock100: { ...LOCK, title: `lock100: 100 contenders on one lock (${LOCK_HOW})` },
  load: {
    title: 'load: new nodes with 64 in flight, then RSS of the 3 members and bytes on disk of their data (stall: Conclave, during the load and its snapshots)',
    columns: [col('nodes', 'nodes'), col('opsPerSec', 'creates/s'), col('rssMiB', 'RSS MiB (3 members)'), col('rssMaxMiB', 'largest member MiB'), col('diskMiB', 'disk MiB'), col('stallMs', 'stall ms', 1), col('otherCpuPct', 'other CPU %')],
    ratios: [{ metric: 'rssMiB', label: 'RSS', better: 'lower' }, { metric: 'diskMiB', label: 'disk', better: 'lower' }, OPS],
  },
  start: {
    title: 'start: cold start to ready; restart to ready after the load',
    columns: [col('coldMs', 'cold start ms'), col('restartMs', 'restart ms'), col('restartNodes', 'nodes at restart'), col('otherCpuPct', 'other CPU %')],
    ratios: [{ metric: 'coldMs', label: 'cold start', better: 'lower' }, { metric: 'restartMs', label: 'restart', better: 'lower' }],
  },
};

const fmt = (x: number, digits: number) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function cell(s: Stat | undefined, digits: number): string {
  if (!s) return '–';
  return s.n > 1 && s.min !== s.max ? `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : fmt(s.median, digits);
}

export function renderReport(summary: Summary, samples: Sample[], systems: SystemName[], workloads: WorkloadId[]): string {
  const out: string[] = [];
  for (const w of workloads) {
    const spec = SPECS[w];
    const rows = systems.filter((s) => summary.has(cellKey(s, w)));
    if (rows.length === 0) continue;
    out.push(`### ${spec.title}`, '');
    out.push(`| system | ${spec.columns.map((c) => c.head).join(' | ')} |`, `| --- |${' --- |'.repeat(spec.columns.length)}`);
    for (const s of rows) {
      const m = summary.get(cellKey(s, w))!;
      const runs = samples.filter((x) => x.system === s && x.workload === w);
      const noisy = runs.filter((x) => x.values['otherCpuPct']! > NOISY_PCT).length;
      out.push(`| ${s}${noisy ? ` (${noisy}/${runs.length} noisy)` : ''} | ${spec.columns.map((c) => cell(m[c.metric], c.digits)).join(' | ')} |`);
    }
    const ratios = renderRatios(summary, w, spec, rows);
    if (ratios) out.push('', ratios);
    const notes = [...new Set(samples.filter((x) => x.workload === w).flatMap((x) => x.notes.map((n) => `${x.system}: ${n}`)))];
    for (const n of notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

function renderRatios(summary: Summary, w: WorkloadId, spec: Spec, rows: SystemName[]): string {
  if (!rows.includes('conclave')) return '';
  const parts: string[] = [];
  for (const peer of rows.filter((s) => s !== 'conclave')) {
    const rs = spec.ratios
      .map((r) => ({ r, x: ratio(summary, w, r.metric, 'conclave', peer) }))
      .filter((e) => e.x !== undefined)
      .map(({ r, x }) => `${r.label} ${x!.toFixed(2)}×`);
    if (rs.length) parts.push(`Conclave/${peer === 'etcd' ? 'etcd' : 'ZooKeeper'}: ${rs.join(', ')}`);
  }
  if (parts.length === 0) return '';
  const dirs = spec.ratios.map((r) => `${r.label}: ${r.better} is better, so a ratio ${r.better === 'higher' ? 'above' : 'below'} 1 favours Conclave`).join('; ');
  return `${parts.join(' · ')} (${dirs}).`;
}
