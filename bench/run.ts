/**
 * `npm run bench [-- flags]`: Conclave, etcd and ZooKeeper, each as a 3-member cluster on 127.0.0.1,
 * one at a time, through the same load generator; a Markdown table per workload with the
 * Conclave/peer ratios, the targets of TARGETS.md, and JSON in bench/results/. Flags: suite/options.ts.
 */
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine } from './suite/machine.js';
import { parseOptions, type Options } from './suite/options.js';
import { topSelfTime } from './suite/profile-top.js';
import { renderReport } from './suite/report.js';
import type { Sample } from './suite/samples.js';
import { summarize } from './suite/stats.js';
import { missingBinaries, systemDef, type SystemDef, type SystemName } from './suite/systems.js';
import { runSystemRep } from './suite/system-run.js';
import { evaluateTargets, renderTargets } from './suite/targets.js';

const ROOT = join(import.meta.dirname, '../..');
// node-zookeeper-client keeps one emitter per watched path and session; the watch cells put 100
// listeners on each, which is intended, not a leak.
EventEmitter.defaultMaxListeners = 200;
const log = (line: string) => console.log(line);

/** The systems that can run; a missing peer is installed with --install, else skipped with a hint. */
function availableSystems(opts: Options): SystemDef[] {
  const defs = opts.systems.map((s) => systemDef(s, { cpuProfDir: opts.cpuProfDir }));
  if (opts.install && defs.some((d) => d.name !== 'conclave' && missingBinaries(d).length > 0)) {
    execFileSync('bash', [join(ROOT, 'scripts/bench-peers-setup.sh')], { stdio: 'inherit' });
  }
  return defs.filter((d) => {
    const missing = missingBinaries(d);
    if (missing.length === 0) return true;
    const fix = d.name === 'conclave' ? 'npm run build' : 'bash scripts/bench-peers-setup.sh (or npm run bench -- --install)';
    console.error(`skipping ${d.name}: ${missing.join(', ')} missing; install with: ${fix}`);
    return false;
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let opts: Options;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  const defs = availableSystems(opts);
  const root = await mkdtemp(join(tmpdir(), 'conclave-bench-'));
  if (opts.cpuProfDir) await mkdir(opts.cpuProfDir, { recursive: true });
  log(`${command}: ${defs.map((d) => d.name).join(', ')}; ${opts.repeat} repetition(s); data under ${root}`);
  const samples: Sample[] = [];
  const failures: string[] = [];
  const leaderPids: number[] = [];
  for (let rep = 0; rep < opts.repeat; rep++) {
    for (const def of defs) {
      try {
        const r = await runSystemRep(def, opts, rep, root, log);
        samples.push(...r.samples);
        if (def.name === 'conclave') leaderPids.push(r.leaderPid);
      } catch (err) {
        failures.push(`${def.name} run ${rep + 1}: ${String(err)}`);
        console.error(`${def.name} run ${rep + 1} failed (data kept under ${root}):`, err);
      }
    }
  }
  const summary = summarize(samples);
  const systems = defs.map((d) => d.name as SystemName);
  const targets = evaluateTargets(summary);
  const m = machine();
  const wallSeconds = (Date.now() - started) / 1000;
  console.log(`\n## ${command}\n\n${new Date().toISOString()}; ${m.nproc} × ${m.cpuModel}, ${m.memGiB} GiB, Node ${m.node}, Linux ${m.kernel}; ${opts.repeat} repetition(s), median (range); wall time ${wallSeconds.toFixed(0)} s\n`);
  console.log(renderReport(summary, samples, systems, opts.workloads));
  console.log(`### Targets (TARGETS.md)\n\n${renderTargets(targets)}\n`);
  for (const f of failures) console.log(`FAILED: ${f}`);
  const profiles = opts.cpuProfDir ? await profileSummaries(opts.cpuProfDir, leaderPids, samples) : [];
  const out = opts.out ?? join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir(join(out, '..'), { recursive: true });
  await writeFile(out, JSON.stringify({ command, date: new Date().toISOString(), wallSeconds, machine: m, options: opts, summary: Object.fromEntries(summary), targets, samples, failures, profiles }, null, 2));
  console.log(`results: ${out}`);
  if (failures.length === 0 && !opts.keep) await rm(root, { recursive: true, force: true });
  if (failures.length > 0) process.exitCode = 1;
}

/**
 * The leaders' profiles (CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile): top 10 self time during w64
 * (the whole profile if w64 did not run).
 */
async function profileSummaries(dir: string, leaderPids: number[], samples: Sample[]) {
  const files = await readdir(dir);
  const w64 = samples.filter((s) => s.system === 'conclave' && s.workload === 'w64');
  const out = [];
  for (const [rep, pid] of leaderPids.entries()) {
    const f = files.find((x) => x.endsWith('.cpuprofile') && x.split('.')[3] === String(pid));
    if (!f) continue;
    const v = w64.find((s) => s.rep === rep)?.values;
    const t = await topSelfTime(join(dir, f), 10, v ? [v['windowFromUs']!, v['windowToUs']!] : undefined);
    console.log(`\n### Leader profile ${f}${v ? ', during w64' : ''}: ${(t.busyMs / 1000).toFixed(1)} s busy of ${(t.windowMs / 1000).toFixed(1)} s\n`);
    console.log('| function | where | main caller | self ms | % of busy |\n| --- | --- | --- | --- | --- |');
    for (const e of t.top) console.log(`| ${e.fn} | ${e.where} | ${e.caller} | ${e.ms.toFixed(0)} | ${e.pct.toFixed(1)} |`);
    out.push({ file: f, ...t });
  }
  return out;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
