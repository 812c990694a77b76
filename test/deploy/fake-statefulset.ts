/**
 * A StatefulSet played by processes on 127.0.0.1: each "pod" runs what the chart's container runs
 * (the image's entry point with the container's args, from a copy of the image's /app) with the
 * environment the rendered chart gives it, the downward-API fields filled in as the kubelet would.
 * Two things differ, and only these: the pod's volume is a temporary folder, and
 * CONCLAVE_K8S_ADDRESSES maps every pod name to loopback ports (what the headless Service's DNS
 * names do in Kubernetes). Stopping a pod runs the chart's preStop command first, then SIGTERM;
 * scaling runs the chart's hook Job command before shrinking, and a shrink deletes the removed
 * pods' volumes (persistentVolumeClaimRetentionPolicy whenScaled: Delete).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, until } from '../integration/harness.js';
import { type Container, type K8sObject, containersOf, find, podEnv, renderChart } from './helm.js';
import type { RuntimeTree } from './image.js';

export interface PodPorts {
  readonly client: number;
  readonly peer: number;
  readonly metrics: number;
}

export class FakePod {
  child: ChildProcess | undefined;
  log = '';
  volume: string;

  constructor(
    readonly ordinal: number,
    readonly name: string,
    readonly ports: PodPorts,
  ) {
    this.volume = mkdtempSync(join(tmpdir(), `${name}-pvc-`));
  }

  get clientAddress(): string {
    return `127.0.0.1:${this.ports.client}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** A fresh, empty volume (a deleted PVC, or a lost disk). */
  newVolume(): void {
    rmSync(this.volume, { recursive: true, force: true });
    this.volume = mkdtempSync(join(tmpdir(), `${this.name}-pvc-`));
  }
}

export class FakeStatefulSet {
  readonly pods = new Map<number, FakePod>();
  #replicas = 0;
  #objects: K8sObject[] = [];

  private constructor(
    readonly helm: string,
    readonly tree: RuntimeTree,
    readonly release: string,
    readonly namespace: string,
    readonly values: Readonly<Record<string, string | number | boolean>>,
    readonly maxPods: number,
  ) {}

  static async create(helm: string, tree: RuntimeTree, opts: { release?: string; namespace?: string; values?: Record<string, string | number | boolean>; maxPods: number }): Promise<FakeStatefulSet> {
    const s = new FakeStatefulSet(helm, tree, opts.release ?? 'demo', opts.namespace ?? 'coord', opts.values ?? {}, opts.maxPods);
    for (let o = 0; o < opts.maxPods; o++) {
      s.pods.set(o, new FakePod(o, `${s.name}-${o}`, { client: await freePort(), peer: await freePort(), metrics: await freePort() }));
    }
    return s;
  }

  get replicas(): number {
    return this.#replicas;
  }

  /** The StatefulSet's name as the chart renders it. */
  get name(): string {
    return `${this.release}-conclave`;
  }

  pod(ordinal: number): FakePod {
    const p = this.pods.get(ordinal);
    if (!p) throw new Error(`no pod ${ordinal}`);
    return p;
  }

  /** `helm template` at this replica count (as `helm upgrade --set replicaCount=N` would apply). */
  render(replicas: number): K8sObject[] {
    const { objects, run } = renderChart(this.helm, { ...this.values, replicaCount: replicas }, { release: this.release, namespace: this.namespace });
    if (run.code !== 0) throw new Error(`helm template failed: ${run.stderr}`);
    this.#objects = objects;
    return objects;
  }

  #container(): Container {
    const c = containersOf(find(this.#objects, 'StatefulSet')).find((x) => x.name === 'conclave');
    if (!c) throw new Error('no conclave container');
    return c;
  }

  /** Every pod name → its loopback addresses: the test's stand-in for the headless Service's DNS. */
  #addresses(): string {
    return [...this.pods.values()].map((p) => `${p.name}=127.0.0.1:${p.ports.peer}/127.0.0.1:${p.ports.client}/127.0.0.1:${p.ports.metrics}`).join(',');
  }

  /** A container's environment for one pod, as the kubelet gives it, volume paths mapped. */
  envOf(container: Container, pod: FakePod | undefined): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() };
    const given = podEnv(container, { name: pod?.name ?? `${this.name}-hook`, namespace: this.namespace });
    const mount = container.volumeMounts?.find((m) => m.name === 'data')?.mountPath;
    for (const [k, v] of Object.entries(given)) env[k] = mount && pod && v.startsWith(`${mount}/`) ? join(pod.volume, v.slice(mount.length)) : v;
    env['CONCLAVE_K8S_ADDRESSES'] = this.#addresses();
    return env;
  }

  /** Start a pod's container (the volume it has). */
  start(ordinal: number): void {
    const pod = this.pod(ordinal);
    if (pod.running) throw new Error(`${pod.name} is running`);
    const c = this.#container();
    const [exe, args] = this.tree.command([...this.tree.spec.entrypoint, ...(c.args ?? this.tree.spec.cmd)]);
    pod.log = '';
    const child = spawn(exe, args, { env: this.envOf(c, pod), cwd: this.tree.app, stdio: ['ignore', 'ignore', 'pipe'] });
    pod.child = child;
    child.stderr?.on('data', (d: Buffer) => (pod.log += d.toString('utf8')));
  }

  /** The kubelet's readiness probe: GET /readyz on the metrics port answers 200. */
  async ready(ordinal: number): Promise<boolean> {
    const pod = this.pod(ordinal);
    if (!pod.running) return false;
    const res = await fetch(`http://127.0.0.1:${pod.ports.metrics}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    return res?.status === 200;
  }

  async waitReady(ordinals: readonly number[], timeoutMs = 30_000): Promise<void> {
    await until(
      `pods ${ordinals.join(', ')} to be ready`,
      async () => {
        for (const o of ordinals) {
          const p = this.pod(o);
          if (p.child && !p.running) throw new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${p.log.slice(-3000)}`);
        }
        return (await Promise.all(ordinals.map((o) => this.ready(o)))).every(Boolean);
      },
      timeoutMs,
    );
  }

  /** Run a command in the image with a container's environment (preStop, hook Job): its exit code and output. */
  exec(argv: readonly string[], container: Container, pod: FakePod | undefined): Promise<{ code: number | null; out: string }> {
    const [exe, args] = this.tree.command(argv);
    return new Promise((resolve) => {
      const child = spawn(exe, args, { env: this.envOf(container, pod), cwd: this.tree.app, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ code, out }));
    });
  }

  /** Stop a pod as the kubelet does: the preStop hook, then SIGTERM; resolves with its exit code. */
  async stop(ordinal: number): Promise<{ preStop: string; code: number | null }> {
    const pod = this.pod(ordinal);
    const child = pod.child;
    if (!child || !pod.running) return { preStop: '', code: child?.exitCode ?? null };
    const c = this.#container();
    const preStop = (c['lifecycle'] as { preStop?: { exec?: { command: string[] } } } | undefined)?.preStop?.exec?.command;
    let said = '';
    if (preStop) said = (await this.exec(preStop, c, pod)).out;
    if (!pod.running) return { preStop: said, code: child.exitCode };
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    return { preStop: said, code: await exited };
  }

  /** `helm install`: render, then start every pod at once (podManagementPolicy: Parallel). */
  install(replicas: number): void {
    this.render(replicas);
    this.#replicas = replicas;
    for (let o = 0; o < replicas; o++) this.start(o);
  }

  /**
   * `helm upgrade --set replicaCount=N`: the pre-upgrade hook Job runs first (it must succeed, or
   * the upgrade stops there); then the StatefulSet grows (new pods start at once) or shrinks (the
   * highest ordinals stop and their volumes are deleted).
   */
  async upgrade(replicas: number): Promise<{ hook: string }> {
    const objects = this.render(replicas);
    const job = find(objects, 'Job', `${this.name}-scale-down`);
    const [hookContainer] = containersOf(job);
    if (!hookContainer) throw new Error('the hook Job has no container');
    const hook = await this.exec([...this.tree.spec.entrypoint, ...(hookContainer.args ?? [])], hookContainer, undefined);
    if (hook.code !== 0) throw new Error(`the scale-down hook failed (${hook.code}):\n${hook.out}`);
    const before = this.#replicas;
    this.#replicas = replicas;
    for (let o = before; o < replicas; o++) this.start(o);
    for (let o = before - 1; o >= replicas; o--) {
      await this.stop(o);
      this.pod(o).newVolume();
    }
    return { hook: hook.out };
  }

  describe(): string {
    return [...this.pods.values()].map((p) => `--- ${p.name} (${p.running ? `pid ${p.child?.pid}` : `stopped ${p.child?.exitCode ?? p.child?.signalCode ?? ''}`})\n${p.log.slice(-2500)}`).join('\n');
  }

  async destroy(): Promise<void> {
    await Promise.all(
      [...this.pods.values()].map(async (p) => {
        const child = p.child;
        if (child && p.running) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await exited;
        }
        rmSync(p.volume, { recursive: true, force: true });
      }),
    );
  }
}
