/** Self time per function of a V8 .cpuprofile (what `node --cpu-prof` writes), largest first. */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  fn: string;
  where: string;
  /** The caller that accounts for most of this function's self time. */
  caller: string;
  ms: number;
  pct: number;
}

/** Samples inside `window` (µs on the profile's clock) only, if given; `(idle)` is not busy time. */
export async function topSelfTime(file: string, n = 10, window?: [number, number]): Promise<{ windowMs: number; busyMs: number; top: SelfTime[] }> {
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, ProfileNode>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node);
  const self = new Map<string, { fn: string; where: string; us: number; callers: Map<string, number> }>();
  const [from, to] = window ?? [p.startTime, p.endTime];
  let busyUs = 0;
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    const us = p.timeDeltas[i + 1] ?? 0;
    const node = byId.get(id)!;
    if (t < from || t > to || node.callFrame.functionName === '(idle)') return;
    busyUs += us;
    const { fn, where } = frame(node);
    const k = `${fn} ${where}`;
    const e = self.get(k) ?? { fn, where, us: 0, callers: new Map<string, number>() };
    e.us += us;
    const up = parent.get(id);
    const caller = up ? `${frame(up).fn} ${frame(up).where}`.trim() : '';
    e.callers.set(caller, (e.callers.get(caller) ?? 0) + us);
    self.set(k, e);
  });
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((e) => ({ fn: e.fn, where: e.where, caller: [...e.callers].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '', ms: e.us / 1000, pct: (100 * e.us) / busyUs }));
  return { windowMs: (to - from) / 1000, busyMs: busyUs / 1000, top };
}

function frame(node: ProfileNode): { fn: string; where: string } {
  const { functionName, url, lineNumber } = node.callFrame;
  return { fn: functionName || '(anonymous)', where: url ? `${shortUrl(url)}:${lineNumber + 1}` : '' };
}

/** Paths relative to the checkout or node_modules; node internals as they are. */
function shortUrl(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  const d = u.indexOf('/dist/');
  return d >= 0 ? u.slice(d + 1) : u;
}
