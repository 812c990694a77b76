/**
 * The Grafana dashboard (deploy/grafana/conclave.json) and the chart's PrometheusRule query only
 * metrics and labels a running server really exports: names are read from a live replica's
 * /metrics (TYPE lines; histograms add _bucket, _sum and _count), labels from its samples, plus
 * the target labels Prometheus adds (namespace, job, pod, instance) and its own `up`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../integration/harness.js';
import { find, helmBinary, renderChart } from './helm.js';
import { REPO } from './image.js';

const TARGET_LABELS = ['namespace', 'job', 'pod', 'instance'];
const PROMETHEUS_METRICS = ['up'];

let cluster: Cluster;
const names = new Set<string>();
const labels = new Set<string>(TARGET_LABELS);
let ruleExprs: { alert: string; expr: string }[] = [];

beforeAll(async () => {
  cluster = await Cluster.start(1);
  await cluster.leader();
  const c = cluster.client(1);
  // One request of each result, so the labelled histograms have samples (and their labels show).
  await c.call('Conclave', 'Create', { path: '/m' });
  await c.call('Conclave', 'Get', { path: '/none' }).catch(() => undefined);
  c.close();
  // And a lock acquire (its histogram is labelled by result).
  const lock = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/main.js'), 'lock', 'metrics-test', '--endpoints', `127.0.0.1:${cluster.servers[0]?.member.clientPort}`, '--', 'true'], { encoding: 'utf8' });
  expect(lock.status, lock.stderr).toBe(0);
  const text = await (await fetch(`http://127.0.0.1:${cluster.servers[0]?.metricsPort()}/metrics`)).text();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [name, type] = [m[1] as string, m[2] as string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  for (const m of text.matchAll(/^[a-z_:][a-z0-9_:]*\{([^}]*)\}/gm)) for (const l of (m[1] as string).matchAll(/([a-z_][a-z0-9_]*)="/g)) labels.add(l[1] as string);
  const objects = renderChart(await helmBinary(), { 'metrics.prometheusRule.enabled': true }).objects;
  ruleExprs = (find(objects, 'PrometheusRule')['spec'] as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Metric names an expression reads (every conclave_* token, and Prometheus's own ones). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*(?=\{|\[|\)|$|\s*[-+*/<>=])/g)].map((m) => m[1] as string).filter((n) => n.startsWith('conclave_') || PROMETHEUS_METRICS.includes(n));
}

/** Label names an expression selects or groups by. */
function labelsIn(expr: string): string[] {
  const out: string[] = [];
  for (const sel of expr.matchAll(/\{([^}]*)\}/g)) for (const l of (sel[1] as string).matchAll(/([a-z_][a-z0-9_]*)\s*(=~|!~|!=|=)/g)) out.push(l[1] as string);
  for (const by of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) for (const l of (by[1] as string).split(',')) if (l.trim()) out.push(l.trim());
  return out;
}

function checkExpr(where: string, expr: string): void {
  const used = metricsIn(expr);
  expect(used.length, `${where} reads no metric: ${expr}`).toBeGreaterThan(0);
  for (const n of used) expect(names.has(n) || PROMETHEUS_METRICS.includes(n), `${where}: ${n} is not exported`).toBe(true);
  for (const l of labelsIn(expr)) expect(labels.has(l), `${where}: label ${l} is not exported`).toBe(true);
  // Brackets balance (a cheap syntax check; no promtool here).
  for (const [open, close] of ['()', '{}', '[]']) expect(expr.split(open as string).length, `${where}: unbalanced ${open}${close}`).toBe(expr.split(close as string).length);
}

describe('metric names', () => {
  it('reads the real names from a running replica', () => {
    expect(names).toContain('conclave_has_leader');
    expect(names).toContain('conclave_wal_fsync_seconds_bucket');
    expect(labels).toContain('method');
    // The checks below have teeth: a made-up name is not there.
    expect(names.has('conclave_leader_changes')).toBe(false);
  });

  it('the PrometheusRule alerts on exported metrics only', () => {
    expect(ruleExprs.map((r) => r.alert)).toEqual(expect.arrayContaining(['ConclaveNoLeader', 'ConclaveFrequentLeaderChanges', 'ConclaveSlowFsync', 'ConclaveMemberLagging']));
    for (const r of ruleExprs) checkExpr(r.alert, r.expr);
  });

  it('the Grafana dashboard charts exported metrics only, and is a well-formed dashboard', () => {
    const dash = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/conclave.json'), 'utf8')) as {
      uid: string;
      title: string;
      templating: { list: { name: string; type: string }[] };
      panels: { id: number; type: string; title: string; gridPos: { x: number; w: number; h: number; y: number }; datasource?: { uid: string }; targets?: { expr: string }[] }[];
    };
    expect(dash.uid).toBe('conclave-overview');
    expect(dash.templating.list.map((v) => v.name)).toEqual(['datasource', 'namespace', 'job']);
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const charts = dash.panels.filter((p) => p.type !== 'row');
    expect(charts.length).toBeGreaterThan(20);
    for (const p of charts) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        checkExpr(p.title, t.expr);
        expect(t.expr, p.title).toContain('namespace=~"$namespace", job=~"$job"');
      }
    }
    // The four things the issue asks to watch are charted.
    const all = charts.flatMap((p) => p.targets ?? []).map((t) => t.expr).join('\n');
    for (const m of ['conclave_has_leader', 'conclave_leader_changes_total', 'conclave_wal_fsync_seconds_bucket', 'conclave_applied_index']) expect(all).toContain(m);
  });
});
