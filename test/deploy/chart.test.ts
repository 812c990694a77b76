/**
 * The Helm chart, rendered and linted by a real helm (fetched in set-up, see helm.ts) for 3 and 5
 * members and with every optional feature on. Every built-in object is validated against the
 * Kubernetes OpenAPI schemas (kubernetes-models); the fields that make the cluster safe are
 * asserted one by one: a Parallel StatefulSet with a volume per member, peers named by stable DNS
 * through a headless Service that publishes members before they are ready, a PDB of one, hard
 * anti-affinity, zone spread, probes on /livez and /readyz, a non-root read-only container, the
 * scale-down hook and the step-down preStop, and the refusal of even and single-member counts.
 */
import { isIP } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { SERVER_OPTIONS, parseServerConfig } from '../../src/server/config.js';
import { foundingMembers, podAddresses, podIdentity, probeEndpoints } from '../../src/cli/k8s-plan.js';
import { imageSpec } from './image.js';
import { CHART, type Container, type K8sObject, containersOf, find, helm, helmBinary, podEnv, renderChart, setArgs } from './helm.js';

let bin: string;
const image = imageSpec();
const NS = 'coord';

const ALL_FEATURES = {
  replicaCount: 5,
  'cluster.initialMembers': 5,
  'metrics.serviceMonitor.enabled': true,
  'metrics.prometheusRule.enabled': true,
  'snapshots.enabled': true,
  'tls.client.enabled': true,
  'tls.client.secretName': 'conclave-tls',
  'tls.peer.enabled': true,
  'tls.peer.secretName': 'conclave-peer-tls',
  'cluster.restore': true,
  'auth.tokenSecretName': 'conclave-token-secret',
  'auditLog.enabled': true,
  'rateLimits.sessionOps': 200,
  'rateLimits.sessionBytes': 1048576,
} as const;

beforeAll(async () => {
  bin = await helmBinary();
}, 240_000);

function render(values: Record<string, string | number | boolean> = {}): K8sObject[] {
  const { objects, run } = renderChart(bin, values, { namespace: NS });
  if (run.code !== 0) throw new Error(`helm template failed: ${run.stderr}`);
  return objects;
}

function server(objects: readonly K8sObject[]): { sts: K8sObject; spec: Record<string, any>; pod: Record<string, any>; c: Container } {
  const sts = find(objects, 'StatefulSet');
  const spec = sts['spec'] as Record<string, any>;
  const pod = spec['template']['spec'] as Record<string, any>;
  const c = containersOf(sts).find((x) => x.name === 'conclave') as Container;
  return { sts, spec, pod, c };
}

/** Validate a built-in object against its OpenAPI schema (kubernetes-models), by apiVersion and kind. */
async function validate(o: K8sObject): Promise<void> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const mod = (await import(/* @vite-ignore */ `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`)) as Record<string, new (x: unknown) => { validate(): void }>;
  const Model = mod[o.kind] ?? mod['default'];
  if (!Model) throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

describe('helm lint', () => {
  for (const [what, values] of [
    ['defaults (3 members)', {}],
    ['5 members', { replicaCount: 5, 'cluster.initialMembers': 5 }],
    ['every optional feature on', ALL_FEATURES],
  ] as const) {
    it(`passes --strict with ${what}`, () => {
      const r = helm(bin, ['lint', CHART, '--strict', ...setArgs(values)]);
      expect(r.stderr + r.stdout).not.toMatch(/\[(ERROR|WARNING)\]/);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });
  }
});

describe('helm template', () => {
  for (const n of [3, 5]) {
    it(`renders ${n} members that address each other by stable DNS name`, async () => {
      const objects = render({ replicaCount: n, 'cluster.initialMembers': n });
      for (const o of objects) await validate(o);
      const { spec, c } = server(objects);
      expect(spec['replicas']).toBe(n);
      expect(spec['podManagementPolicy']).toBe('Parallel');
      expect(spec['updateStrategy']).toEqual({ type: 'RollingUpdate' });
      expect(spec['volumeClaimTemplates'][0].spec.accessModes).toEqual(['ReadWriteOnce']);
      expect(spec['persistentVolumeClaimRetentionPolicy']).toEqual({ whenDeleted: 'Retain', whenScaled: 'Delete' });

      // The headless Service names the pods and publishes them before they are ready (founders must
      // find each other to elect a leader at all); the StatefulSet uses it as its serviceName.
      const headless = find(objects, 'Service', spec['serviceName']);
      expect(headless['spec']).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
      const client = objects.find((o) => o.kind === 'Service' && o !== headless) as K8sObject;
      expect((client['spec'] as any).ports.map((p: any) => p.name)).toEqual(['client']);
      expect((client['spec'] as any).clusterIP).toBeUndefined();

      // What the start logic derives from each pod's environment: DNS names, never an IP.
      for (let ordinal = 0; ordinal < n; ordinal++) {
        const pod = podIdentity(podEnv(c, { name: `demo-conclave-${ordinal}`, namespace: NS }));
        expect(pod.ordinal).toBe(ordinal);
        expect(podAddresses(pod, ordinal)).toEqual({
          peer: `demo-conclave-${ordinal}.demo-conclave-peers.${NS}.svc.cluster.local:4190`,
          client: `demo-conclave-${ordinal}.demo-conclave-peers.${NS}.svc.cluster.local:4180`,
        });
        expect([...foundingMembers(pod).keys()]).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        for (const m of foundingMembers(pod).values()) for (const a of [m.peer, m.client]) expect(isIP(a.split(':')[0] as string)).toBe(0);
        expect(probeEndpoints(pod, ordinal)).toContain(`demo-conclave.${NS}.svc.cluster.local:4180`);
      }
      // No IP address anywhere but the listeners' 0.0.0.0.
      const text = JSON.stringify(objects);
      expect([...text.matchAll(/\b\d{1,3}(\.\d{1,3}){3}\b/g)].map((m) => m[0]).filter((ip) => ip !== '0.0.0.0')).toEqual([]);
    });
  }

  it('runs the image as it is built: entry point conclave, data on the volume, numeric non-root user, read-only root', () => {
    const objects = render();
    const { spec, pod, c } = server(objects);
    expect(c.command).toBeUndefined(); // the image's ENTRYPOINT (conclave) stays
    expect(c.args).toEqual(['k8s', 'start']);
    const env = podEnv(c, { name: 'demo-conclave-0', namespace: NS });
    // The data directory is the image's, on the volume mounted where the image declares its VOLUME.
    expect(env['CONCLAVE_DATA']).toBe(image.env.get('CONCLAVE_DATA'));
    const dataMount = c.volumeMounts?.find((m) => m.name === spec['volumeClaimTemplates'][0].metadata.name);
    expect(image.volumes).toContain(dataMount?.mountPath);
    expect(c.volumeMounts?.find((m) => m.mountPath === '/tmp')).toBeDefined();
    expect(pod['volumes'].find((v: any) => v.name === 'tmp').emptyDir).toBeDefined();
    // Every CONCLAVE_* variable other than the k8s start logic's own is a server option.
    const known = new Set(Object.values(SERVER_OPTIONS).map(([e]) => e));
    for (const k of Object.keys(env)) if (!k.startsWith('CONCLAVE_K8S_')) expect(known, k).toContain(k);
    expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: Number(image.user.split(':')[0]), fsGroup: Number(image.user.split(':')[1]), seccompProfile: { type: 'RuntimeDefault' } });
    expect(c['securityContext']).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod['automountServiceAccountToken']).toBe(false);
    // The ports the container declares are the ones its listeners use.
    const port = (name: string): number => c.ports?.find((p) => p.name === name)?.containerPort as number;
    expect(env['CONCLAVE_LISTEN']).toBe(`0.0.0.0:${port('client')}`);
    expect(env['CONCLAVE_PEER_LISTEN']).toBe(`0.0.0.0:${port('peer')}`);
    expect(env['CONCLAVE_METRICS_LISTEN']).toBe(`0.0.0.0:${port('metrics')}`);
    expect(c['resources']).toMatchObject({ requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } });
  });

  it('probes /livez for startup and liveness and /readyz for readiness, on the metrics port', () => {
    const { c } = server(render());
    expect(c['startupProbe']).toMatchObject({ httpGet: { path: '/livez', port: 'metrics' } });
    expect(c['livenessProbe']).toMatchObject({ httpGet: { path: '/livez', port: 'metrics' } });
    expect(c['readinessProbe']).toMatchObject({ httpGet: { path: '/readyz', port: 'metrics' } });
    // The start logic may wait for a leader before the server listens: the startup probe allows minutes.
    const startup = c['startupProbe'] as { periodSeconds: number; failureThreshold: number };
    expect(startup.periodSeconds * startup.failureThreshold).toBeGreaterThanOrEqual(300);
  });

  it('keeps a majority through voluntary disruptions: a PDB of one, hard anti-affinity by default, zone spread', () => {
    const objects = render();
    const { spec, pod } = server(objects);
    const podLabels = spec['template'].metadata.labels as Record<string, string>;
    const pdb = find(objects, 'PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect((pdb['spec'] as any).maxUnavailable).toBe(1);
    expect((pdb['spec'] as any).minAvailable).toBeUndefined();
    expect(podLabels).toMatchObject((pdb['spec'] as any).selector.matchLabels);
    const hard = pod['affinity'].podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(hard).toHaveLength(1);
    expect(hard[0].topologyKey).toBe('kubernetes.io/hostname');
    expect(podLabels).toMatchObject(hard[0].labelSelector.matchLabels);
    expect(pod['topologySpreadConstraints'][0]).toMatchObject({ topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway' });

    const soft = server(render({ podAntiAffinity: 'soft' })).pod['affinity'].podAntiAffinity;
    expect(soft.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(soft.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(server(render({ podAntiAffinity: 'none' })).pod['affinity']).toBeUndefined();
  });

  it('changes membership safely: a scale-down hook before upgrades and rollbacks, a step-down (not a removal) before a stop', () => {
    const objects = render({ replicaCount: 3 });
    const { c } = server(objects);
    expect((c['lifecycle'] as any).preStop.exec.command).toEqual(['conclave', 'k8s', 'step-down']);
    const hook = find(objects, 'Job', 'demo-conclave-scale-down');
    expect(hook.metadata.annotations?.['helm.sh/hook']).toBe('pre-upgrade,pre-rollback');
    const [job] = containersOf(hook);
    expect(job?.args).toEqual(['k8s', 'scale-down', '--replicas', '3']);
    // The hook knows the members by the same names the pods do.
    const hookEnv = podEnv(job as Container, { name: 'unused', namespace: NS });
    const podEnvOf0 = podEnv(c, { name: 'demo-conclave-0', namespace: NS });
    for (const [k, v] of Object.entries(hookEnv)) expect(podEnvOf0[k], k).toBe(v);
    // Nothing in the chart removes a member when a pod stops.
    expect(JSON.stringify(objects)).not.toMatch(/member remove|MemberRemove/);
    expect(containersOf(find(render({ replicaCount: 5, 'cluster.initialMembers': 3 }), 'Job', 'demo-conclave-scale-down'))[0]?.args).toEqual(['k8s', 'scale-down', '--replicas', '5']);
    // Scaling does not change the pod template (no rolling restart of every member on a scale).
    const template = (n: number): string => JSON.stringify(server(render({ replicaCount: n })).spec['template']);
    expect(template(5)).toBe(template(3));
  });

  it('passes config keys as the server environment variables and refuses keys the chart owns', () => {
    const { c } = server(render({ 'config.watchesMax': 5000, 'config.logLevel': 'debug' }));
    const env = podEnv(c, { name: 'demo-conclave-1', namespace: NS });
    expect(env['CONCLAVE_WATCHES_MAX']).toBe('5000');
    expect(env['CONCLAVE_LOG_LEVEL']).toBe('debug');
    const r = renderChart(bin, { 'config.members': 'x' }).run;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('config.members is set by the chart');
  });

  for (const [values, message] of [
    [{ replicaCount: 4 }, 'replicaCount is 4: use 3 or 5'],
    [{ replicaCount: 2 }, 'replicaCount is 2: use 3 or 5'],
    [{ replicaCount: 1 }, 'replicaCount is 1: use 3 or 5'],
    [{ 'cluster.initialMembers': 4, replicaCount: 5 }, 'cluster.initialMembers is 4: use 3 or 5'],
    [{ replicaCount: 0 }, 'replicaCount must be at least 1'],
    [{ podAntiAffinity: 'sometimes' }, 'podAntiAffinity must be hard, soft or none'],
    [{ 'tls.client.enabled': true }, 'tls.client.enabled needs tls.client.secretName'],
    [{ 'tls.peer.enabled': true }, 'tls.peer.enabled needs tls.peer.secretName'],
    [{ 'tls.client.clientAuth': 'maybe' }, 'tls.client.clientAuth must be none, request or require'],
    [{ 'tls.enabled': true, 'tls.secretName': 'x' }, 'tls.enabled and tls.secretName are gone'],
    [{ 'config.tlsCert': '/x' }, 'config.tlsCert is set by the chart'],
    [{ 'auth.enabled': 'maybe' }, 'auth.enabled must be true, false or ""'],
    [{ 'auth.tokenSecretName': 's' }, 'auth.tokenSecretName needs auth on'],
    [{ 'auth.enabled': true }, 'auth is on but no caller could say who it is'],
    [{ 'tls.client.enabled': true, 'tls.client.secretName': 's', 'tls.client.clientAuth': 'none' }, 'auth is on but no caller could say who it is'],
    [{ 'rateLimits.sessionOps': -1 }, 'rateLimits.sessionOps must be a whole number >= 0'],
    [{ 'rateLimits.sessionBytes': 1.5 }, 'rateLimits.sessionBytes must be a whole number >= 0'],
    [{ 'rateLimits.ops': 5 }, 'rateLimits.ops is not a rate limit'],
    [{ 'config.auditLog': '-' }, 'config.auditLog is set by the chart: use auth.enabled, auth.tokenSecretName, auditLog.enabled and rateLimits'],
  ] as const) {
    it(`refuses ${JSON.stringify(values)} with a clear message`, () => {
      const r = renderChart(bin, values).run;
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    });
  }

  it('renders 1 or an even count when explicitly allowed', () => {
    for (const n of [1, 4]) {
      const { spec } = server(render({ replicaCount: n, 'cluster.initialMembers': n, 'cluster.allowUnsafeReplicaCount': true }));
      expect(spec['replicas']).toBe(n);
    }
  });

  it('renders every optional feature: ServiceMonitor, PrometheusRule, snapshot CronJob, TLS on both ports, restore mode', async () => {
    const objects = render(ALL_FEATURES);
    for (const o of objects) if (!o.apiVersion.startsWith('monitoring.coreos.com/')) await validate(o);
    const { pod, c } = server(objects);
    // ServiceMonitor: scrapes the headless Service (members ready or not) on its metrics port.
    const sm = find(objects, 'ServiceMonitor');
    const headless = find(objects, 'Service', 'demo-conclave-peers');
    expect(headless.metadata.labels).toMatchObject((sm['spec'] as any).selector.matchLabels);
    expect(find(objects, 'Service', 'demo-conclave').metadata.labels).not.toMatchObject((sm['spec'] as any).selector.matchLabels);
    expect((sm['spec'] as any).endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
    expect((headless['spec'] as any).ports.map((p: any) => p.name)).toContain('metrics');
    // PrometheusRule: the alerts the issue asks for (their metric names: metrics-names.test.ts).
    const rule = find(objects, 'PrometheusRule');
    const alerts = (rule['spec'] as any).groups.flatMap((g: any) => g.rules.map((r: any) => r.alert));
    expect(alerts).toEqual(expect.arrayContaining(['ConclaveNoLeader', 'ConclaveFrequentLeaderChanges', 'ConclaveSlowFsync', 'ConclaveMemberLagging']));
    // Snapshots: a CronJob, one run at a time, saving with conclave snapshot save to a RWO volume.
    const cron = find(objects, 'CronJob');
    expect((cron['spec'] as any).concurrencyPolicy).toBe('Forbid');
    const [snap] = containersOf(cron);
    expect(snap?.args?.join('\n')).toContain('conclave snapshot save');
    expect(podEnv(snap as Container, { name: 'x', namespace: NS })['CONCLAVE_ENDPOINTS']?.split(',')).toHaveLength(5);
    const pvc = find(objects, 'PersistentVolumeClaim', 'demo-conclave-snapshots');
    expect((pvc['spec'] as any).accessModes).toEqual(['ReadWriteOnce']);
    // TLS: each port's Secret mounted read-only (the TLS tests below check the variables that point into them).
    expect(pod['volumes'].find((v: any) => v.name === 'tls-client').secret.secretName).toBe('conclave-tls');
    expect(pod['volumes'].find((v: any) => v.name === 'tls-peer').secret.secretName).toBe('conclave-peer-tls');
    expect(c.volumeMounts?.find((m) => m.name === 'tls-client')).toMatchObject({ mountPath: '/etc/conclave/tls/client', readOnly: true });
    expect(c.volumeMounts?.find((m) => m.name === 'tls-peer')).toMatchObject({ mountPath: '/etc/conclave/tls/peer', readOnly: true });
    // Restore mode: the founders wait for the backup on their volume.
    expect(podEnv(c, { name: 'demo-conclave-0', namespace: NS })['CONCLAVE_K8S_RESTORE_FILE']).toBe('/var/lib/conclave/restore.db');
  });

  it('prints NOTES on how to connect and check health, and on TLS', () => {
    const r = helm(bin, ['install', 'demo', CHART, '--dry-run=client', '--namespace', NS, ...setArgs(ALL_FEATURES)]);
    expect(r.code, r.stderr).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain(`demo-conclave.${NS}.svc.cluster.local:4180`);
    expect(notes).toContain('conclave status');
    expect(notes).toContain('/readyz');
    expect(notes).toContain('Client port: TLS from Secret conclave-tls (client certificates: require)');
    expect(notes).toContain('Peer port: mutual TLS from Secret conclave-peer-tls');
    expect(notes).not.toContain('PLAINTEXT');
    expect(notes).toContain('restore.db');
    const plain = helm(bin, ['install', 'demo', CHART, '--dry-run=client', '--namespace', NS]);
    expect(plain.stdout.slice(plain.stdout.indexOf('NOTES:'))).toContain('PLAINTEXT: the client port and the traffic between members');
  });

  describe('TLS', () => {
    /** The Secret's files the environment points at: { ENV: [volume, file] }. */
    function tlsFiles(c: Container, volumes: readonly any[]): Record<string, [string, string]> {
      const env = podEnv(c, { name: 'demo-conclave-0', namespace: NS });
      const out: Record<string, [string, string]> = {};
      for (const [k, v] of Object.entries(env)) {
        if (!/^CONCLAVE_(PEER_)?TLS_(CA|CERT|KEY)$/.test(k)) continue;
        const mount = c.volumeMounts?.find((m) => v.startsWith(`${m.mountPath}/`));
        expect(mount, `${k}=${v} is on a mounted volume`).toBeDefined();
        expect(mount?.readOnly).toBe(true);
        const secret = volumes.find((vol: any) => vol.name === mount?.name)?.secret?.secretName as string;
        out[k] = [secret, v.slice((mount?.mountPath.length ?? 0) + 1)];
      }
      return out;
    }

    it('is off by default: no Secret mounted, no TLS variable', () => {
      const objects = render({ 'snapshots.enabled': true });
      expect(JSON.stringify(objects)).not.toMatch(/CONCLAVE_(PEER_)?TLS_|\/etc\/conclave\/tls/);
    });

    it('points the server at each port\'s Secret and passes the client certificate mode and reload interval', () => {
      const { pod, c } = server(render({ ...ALL_FEATURES, 'tls.client.clientAuth': 'request', 'tls.reloadMs': 2000 }));
      const env = podEnv(c, { name: 'demo-conclave-0', namespace: NS });
      expect(tlsFiles(c, pod['volumes'])).toEqual({
        CONCLAVE_TLS_CERT: ['conclave-tls', 'tls.crt'],
        CONCLAVE_TLS_KEY: ['conclave-tls', 'tls.key'],
        CONCLAVE_TLS_CA: ['conclave-tls', 'ca.crt'],
        CONCLAVE_PEER_TLS_CERT: ['conclave-peer-tls', 'tls.crt'],
        CONCLAVE_PEER_TLS_KEY: ['conclave-peer-tls', 'tls.key'],
        CONCLAVE_PEER_TLS_CA: ['conclave-peer-tls', 'ca.crt'],
      });
      expect(env['CONCLAVE_TLS_CLIENT_AUTH']).toBe('request');
      expect(env['CONCLAVE_TLS_RELOAD_MS']).toBe('2000');
      // Every one is a server option (the same variables give the pod's conclave commands the client files).
      const known = new Set(Object.values(SERVER_OPTIONS).map(([e]) => e));
      for (const k of Object.keys(env)) if (!k.startsWith('CONCLAVE_K8S_')) expect(known, k).toContain(k);
    });

    it('turns each port on alone', () => {
      const clientOnly = server(render({ 'tls.client.enabled': true, 'tls.client.secretName': 's' }));
      const env1 = podEnv(clientOnly.c, { name: 'demo-conclave-0', namespace: NS });
      expect(env1['CONCLAVE_TLS_CERT']).toBeDefined();
      expect(env1['CONCLAVE_TLS_CLIENT_AUTH']).toBe('require'); // the default
      expect(Object.keys(env1).filter((k) => k.startsWith('CONCLAVE_PEER_TLS_'))).toEqual([]);
      const peerOnly = server(render({ 'tls.peer.enabled': true, 'tls.peer.secretName': 'p' }));
      const env2 = podEnv(peerOnly.c, { name: 'demo-conclave-0', namespace: NS });
      expect(Object.keys(env2).filter((k) => /^CONCLAVE_(PEER_)?TLS_/.test(k)).sort()).toEqual(['CONCLAVE_PEER_TLS_CA', 'CONCLAVE_PEER_TLS_CERT', 'CONCLAVE_PEER_TLS_KEY', 'CONCLAVE_TLS_RELOAD_MS']);
      expect(tlsFiles(peerOnly.c, peerOnly.pod['volumes'])).toEqual({
        CONCLAVE_PEER_TLS_CERT: ['p', 'tls.crt'],
        CONCLAVE_PEER_TLS_KEY: ['p', 'tls.key'],
        CONCLAVE_PEER_TLS_CA: ['p', 'ca.crt'],
      });
    });

    it('gives every other pod that runs conclave commands the client Secret: the scale-down hook, the snapshots, the helm test', async () => {
      const objects = render(ALL_FEATURES);
      const pods: [string, K8sObject][] = [
        ['scale-down hook', find(objects, 'Job', 'demo-conclave-scale-down')],
        ['snapshots', find(objects, 'CronJob')],
        ['helm test', find(objects, 'Pod', 'demo-conclave-test-status')],
      ];
      for (const [what, o] of pods) {
        await validate(o);
        const spec = (o['spec'] as any).jobTemplate?.spec.template.spec ?? (o['spec'] as any).template?.spec ?? o['spec'];
        const [c] = containersOf(o);
        expect(tlsFiles(c as Container, spec.volumes ?? []), what).toEqual({
          CONCLAVE_TLS_CERT: ['conclave-tls', 'tls.crt'],
          CONCLAVE_TLS_KEY: ['conclave-tls', 'tls.key'],
          CONCLAVE_TLS_CA: ['conclave-tls', 'ca.crt'],
        });
      }
    });
  });

  describe('auth, audit log and rate limits', () => {
    const SECURITY_ENV = /^CONCLAVE_(AUTH|AUTH_TOKEN_SECRET_FILE|AUDIT_LOG|SESSION_RATE_OPS|SESSION_RATE_BYTES)$/;
    const securityEnv = (values: Record<string, string | number | boolean>): Record<string, string> =>
      Object.fromEntries(Object.entries(podEnv(server(render(values)).c, { name: 'demo-conclave-0', namespace: NS })).filter(([k]) => SECURITY_ENV.test(k)));
    const CLIENT_TLS = { 'tls.client.enabled': true, 'tls.client.secretName': 'conclave-tls' } as const;

    it('leaves auth to the server by default (on exactly with client TLS), with no audit log and no rate limit', () => {
      expect(securityEnv({})).toEqual({});
      // With client TLS the server's own default turns auth on (src/server/config.ts).
      expect(securityEnv(CLIENT_TLS)).toEqual({});
      expect(JSON.stringify(render({}))).not.toMatch(/auth-token|\/etc\/conclave\/auth/);
    });

    it('sets auth on or off when asked, and mounts the token Secret read-only for the server', () => {
      expect(securityEnv({ ...CLIENT_TLS, 'auth.enabled': false })).toEqual({ CONCLAVE_AUTH: 'off' });
      expect(securityEnv({ 'auth.enabled': true, 'auth.tokenSecretName': 'tok' })).toEqual({ CONCLAVE_AUTH: 'on', CONCLAVE_AUTH_TOKEN_SECRET_FILE: '/etc/conclave/auth/secret' });
      const { pod, c } = server(render({ ...CLIENT_TLS, 'auth.tokenSecretName': 'tok' }));
      const env = podEnv(c, { name: 'demo-conclave-0', namespace: NS });
      const file = env['CONCLAVE_AUTH_TOKEN_SECRET_FILE'] as string;
      const mount = c.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
      expect(mount).toMatchObject({ name: 'auth-token', mountPath: '/etc/conclave/auth', readOnly: true });
      const volume = pod['volumes'].find((v: any) => v.name === 'auth-token');
      expect(volume.secret).toEqual({ secretName: 'tok', items: [{ key: 'secret', path: file.slice('/etc/conclave/auth/'.length) }] });
      // The server takes these variables (the TLS files left out: they are not on this machine).
      const withoutTls = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('CONCLAVE_TLS_')));
      expect(parseServerConfig(['--id', '1'], { ...withoutTls, CONCLAVE_AUTH: 'on' })).toMatchObject({ auth: true, authTokenSecretFile: '/etc/conclave/auth/secret' });
    });

    it('gives the scale-down hook the token secret, so it can remove members as root with tokens alone', () => {
      const hook = find(render({ 'auth.enabled': true, 'auth.tokenSecretName': 'tok' }), 'Job', 'demo-conclave-scale-down') as any;
      const spec = hook.spec.template.spec;
      const c = spec.containers[0];
      const file = c.env.find((e: any) => e.name === 'CONCLAVE_AUTH_TOKEN_SECRET_FILE')?.value as string;
      expect(file).toBe('/etc/conclave/auth/secret');
      expect(c.volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`))).toMatchObject({ name: 'auth-token', readOnly: true });
      expect(spec.volumes.find((v: any) => v.name === 'auth-token').secret).toEqual({ secretName: 'tok', items: [{ key: 'secret', path: 'secret' }] });
      const plain = find(render({}), 'Job', 'demo-conclave-scale-down') as any;
      expect(JSON.stringify(plain)).not.toMatch(/auth-token/);
    });

    it('writes the audit log to stdout and passes the rate limits (0: none), as server options', () => {
      const env = securityEnv({ 'auditLog.enabled': true, 'rateLimits.sessionOps': 200, 'rateLimits.sessionBytes': 10_000_000 });
      expect(env).toEqual({ CONCLAVE_AUDIT_LOG: '-', CONCLAVE_SESSION_RATE_OPS: '200', CONCLAVE_SESSION_RATE_BYTES: '10000000' });
      expect(parseServerConfig(['--id', '1'], env)).toMatchObject({ auditLog: '-', sessionRateOps: 200, sessionRateBytes: 10_000_000 });
      expect(securityEnv({ 'rateLimits.sessionOps': 5, 'rateLimits.sessionBytes': 0 })).toEqual({ CONCLAVE_SESSION_RATE_OPS: '5' });
    });

    it('says in NOTES whether auth is on, that the chart\'s certificate must be root, and how to mint a token', () => {
      const notes = (values: Record<string, string | number | boolean>): string => {
        const r = helm(bin, ['install', 'demo', CHART, '--dry-run=client', '--namespace', NS, ...setArgs(values)]);
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.slice(r.stdout.indexOf('NOTES:'));
      };
      const on = notes(ALL_FEATURES);
      expect(on).toContain('Auth: on.');
      expect(on).toContain('its identity (CN) must be root');
      expect(on).toContain(`kubectl -n ${NS} exec demo-conclave-0 -- conclave auth token IDENTITY --ttl 1h --secret-file /etc/conclave/auth/secret`);
      expect(on).toContain('Audit log:');
      const off = notes({});
      expect(off).toContain('Auth: off');
      expect(off).not.toContain('Audit log:');
    });
  });
});
