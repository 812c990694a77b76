/** Every target of TARGETS.md against this run's ratios: met, not met, or not measured. */
import { cellKey, ratio, type Summary } from './stats.js';

export interface TargetResult {
  workload: string;
  target: string;
  measured: string;
  /** undefined: not measured in this run. */
  met: boolean | undefined;
}

const X = (r: number | undefined) => (r === undefined ? '–' : `${r.toFixed(2)}×`);

export function evaluateTargets(s: Summary, restartTargetNodes = 1_000_000): TargetResult[] {
  const get = (sys: string, w: string, m: string) => s.get(cellKey(sys, w))?.[m]?.median;
  // "0 missed" must hold in every repetition and every attempt (a noisy attempt is dropped for its timings only).
  const worst = (sys: string, w: string, m: string) => s.get(cellKey(sys, w))?.[m]?.max;
  const r = (w: string, m: string, peer: string) => ratio(s, w, m, 'conclave', peer);
  const both = (...xs: (number | undefined)[]) => xs.every((x) => x !== undefined);
  const out: TargetResult[] = [];
  const add = (workload: string, target: string, measured: string, met: boolean | undefined) => out.push({ workload, target, measured, met });

  const w1 = r('w1', 'p50Ms', 'zookeeper');
  add('w1', 'p50 ≤ ZooKeeper\'s', `p50 Conclave/ZooKeeper ${X(w1)}`, w1 === undefined ? undefined : w1 <= 1);
  const w64z = r('w64', 'opsPerSec', 'zookeeper');
  const w64e = r('w64', 'opsPerSec', 'etcd');
  add('w64', 'ops/s ≥ 1.5× ZooKeeper and ≥ 2× etcd', `${X(w64z)} ZooKeeper, ${X(w64e)} etcd`, both(w64z, w64e) ? w64z! >= 1.5 && w64e! >= 2 : undefined);
  const lin = r('r64lin', 'opsPerSec', 'zookeeper');
  add('r64lin', 'ops/s ≥ 1.5× ZooKeeper', `${X(lin)} ZooKeeper`, lin === undefined ? undefined : lin >= 1.5);
  const local = r('r64local', 'opsPerSec', 'zookeeper');
  add('r64local', 'ops/s ≥ ZooKeeper', `${X(local)} ZooKeeper`, local === undefined ? undefined : local >= 1);
  const rss = r('load', 'rssMiB', 'etcd');
  add('load', 'RSS after the load ≤ 0.5× etcd', `${X(rss)} etcd (${get('conclave', 'load', 'nodes') ?? '–'} nodes)`, rss === undefined ? undefined : rss <= 0.5);
  const cold = r('start', 'coldMs', 'etcd');
  add('start', 'cold start ≤ etcd', `${X(cold)} etcd`, cold === undefined ? undefined : cold <= 1);
  const restart = get('conclave', 'start', 'restartMs');
  const nodes = get('conclave', 'start', 'restartNodes') ?? 0;
  const partial = nodes < restartTargetNodes ? ` (with ${nodes.toLocaleString('en-US')} nodes, not the target's ${restartTargetNodes.toLocaleString('en-US')})` : '';
  add('start', `restart with ${restartTargetNodes.toLocaleString('en-US')} nodes < 2 s`, `${restart === undefined ? '–' : `${(restart / 1000).toFixed(2)} s`}${partial}`, restart === undefined ? undefined : restart < 2000);
  for (const w of ['watch100', 'watch1000r10']) {
    const peers = ['etcd', 'zookeeper'].map((p) => get(p, w, 'p99Ms')).filter((x): x is number => x !== undefined);
    const mine = get('conclave', w, 'p99Ms');
    const missed = worst('conclave', w, 'missedWorst');
    const x = mine !== undefined && peers.length ? mine / Math.min(...peers) : undefined;
    add(w, 'p99 ≤ 0.5× the better peer, 0 missed', `p99 ${X(x)} the better peer; ${missed ?? '–'} missed`, x === undefined || missed === undefined ? undefined : x <= 0.5 && missed === 0);
  }
  const ev = get('conclave', 'watch1000', 'eventsPerSec');
  const offered = get('conclave', 'watch1000', 'offeredPerSec');
  const missed1000 = worst('conclave', 'watch1000', 'missedWorst');
  add('watch1000', 'all 50k events/s offered delivered, 0 missed', ev === undefined ? '–' : `${Math.round(ev)} of ${offered} events/s; ${missed1000} missed`, ev === undefined ? undefined : ev >= 0.95 * offered! && missed1000 === 0);
  // A lock that was not exclusive gives no result: Conclave's fails the target, a peer's leaves it unmeasured.
  for (const [w, p50Too] of [['lock10', true], ['lock1', false], ['lock100', false]] as const) {
    const ops = r(w, 'opsPerSec', 'zookeeper');
    const p50 = r(w, 'p50Ms', 'zookeeper');
    const mine = worst('conclave', w, 'violationsWorst');
    const peers = ['etcd', 'zookeeper'].filter((p) => (worst(p, w, 'violationsWorst') ?? 0) > 0);
    const measured = `hand-offs/s ${X(ops)} ZooKeeper${p50Too ? `, p50 ${X(p50)} ZooKeeper's` : ''}; ${mine ?? '–'} exclusion violations${peers.length ? `; not exclusive: ${peers.join(', ')}` : ''}`;
    let met: boolean | undefined;
    if (mine !== undefined && mine > 0) met = false;
    else if (ops === undefined || (p50Too && p50 === undefined) || mine === undefined || peers.includes('zookeeper')) met = undefined;
    else met = ops >= 2 && (!p50Too || p50! <= 0.5);
    add(w, `hand-offs/s ≥ 2× ZooKeeper${p50Too ? '; p50 ≤ 0.5× ZooKeeper\'s' : ''}; mutually exclusive`, measured, met);
  }
  const stall = get('conclave', 'w64', 'stallMs');
  add('stall', 'longest event-loop stall under w64 < 20 ms', stall === undefined ? '–' : `${stall.toFixed(1)} ms`, stall === undefined ? undefined : stall < 20);
  const snapStall = get('conclave', 'load', 'stallMs');
  add('stall', 'longest event-loop stall during a snapshot < 20 ms (the load takes snapshots while it runs)', snapStall === undefined ? '–' : `${snapStall.toFixed(1)} ms`, snapStall === undefined ? undefined : snapStall < 20);
  return out;
}

export function renderTargets(ts: TargetResult[]): string {
  const mark = (m: boolean | undefined) => (m === undefined ? 'not measured' : m ? '**met**' : '**not met**');
  return ['| workload | target | measured | |', '| --- | --- | --- | --- |', ...ts.map((t) => `| ${t.workload} | ${t.target} | ${t.measured} | ${mark(t.met)} |`)].join('\n');
}
