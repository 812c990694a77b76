/**
 * `conclave k8s start | scale-down | step-down`: what the Helm chart runs (deploy/helm/conclave).
 *
 * - `k8s start` (the StatefulSet's container): finds out who this pod is and whether the cluster
 *   exists, founds it, joins it as a learner, restores it, or just starts on the data it has (the
 *   decisions are `nextStartStep` in k8s-plan.ts); then runs the server in this process, and if
 *   this member is a learner, promotes it once it has caught up with the leader.
 * - `k8s scale-down --replicas N` (a pre-upgrade/pre-rollback hook Job): removes the members with
 *   ordinal >= N through Raft before the StatefulSet shrinks.
 * - `k8s step-down` (the container's preStop): hands the leadership away if this member leads.
 *   It never removes the member: a restart or an eviction keeps the membership as it is.
 */
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import { ConclaveServer } from '../server/conclave-server.js';
import { type MemberAddress, type ServerConfig, parseServerConfig } from '../server/config.js';
import { DiskStorage } from '../storage/disk-storage.js';
import { mintToken } from '../security/tokens.js';
import { ROOT_IDENTITY } from '../state/index.js';
import { Admin } from './admin.js';
import { type CommandSpec, intArg } from './command.js';
import {
  JOINED_ID_MAX,
  JOINED_ID_MIN,
  type MemberView,
  type PodIdentity,
  type StartObservation,
  checkLiveMajority,
  foundingId,
  foundingMembers,
  k8sIdentity,
  membersArg,
  nextStartStep,
  ordinalOfPeer,
  planScaleDown,
  podAddresses,
  podIdentity,
  probeEndpoints,
  transferTarget,
} from './k8s-plan.js';
import { EXIT, errorLine } from './output.js';
import { serve } from './server-command.js';
import { restoreSnapshot } from './snapshot-restore.js';

/** How long one probe of a member may take. */
const PROBE_TIMEOUT_MS = 1000;
/** Pause between two looks at the cluster while waiting. */
const LOOK_AGAIN_MS = 500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const K8S_START_ENV: Readonly<Record<string, string>> = {
  CONCLAVE_K8S_POD_NAME: "this pod's name, <statefulset>-<ordinal> (downward API metadata.name)",
  CONCLAVE_K8S_STATEFULSET: 'the StatefulSet',
  CONCLAVE_K8S_NAMESPACE: 'its namespace (downward API metadata.namespace)',
  CONCLAVE_K8S_PEER_SERVICE: 'the headless Service that names the pods',
  CONCLAVE_K8S_CLIENT_SERVICE: 'the client Service (optional; also probed for the cluster)',
  CONCLAVE_K8S_CLUSTER_DOMAIN: 'the cluster DNS domain (default cluster.local)',
  CONCLAVE_K8S_INITIAL_MEMBERS: 'members that founded the cluster: ordinals 0 .. N-1 (default 3)',
  CONCLAVE_K8S_CLIENT_PORT: 'client port every member advertises (default 4180)',
  CONCLAVE_K8S_PEER_PORT: 'peer port every member advertises (default 4190)',
  CONCLAVE_K8S_FOUNDING_PROBE_MS: 'how long a founder with an empty volume looks for a running cluster before founding (default 5000)',
  CONCLAVE_K8S_RESTORE_FILE: 'restore mode: a founder with an empty volume waits for this snapshot file and founds from it',
  CONCLAVE_K8S_ADDRESSES: 'pod=peer/client[/metrics],…: addresses instead of the DNS names (tests); a pod listens on its own',
};

export function k8sStartUsage(): string {
  const lines = Object.entries(K8S_START_ENV).map(([k, v]) => `  ${k.padEnd(32)} ${v}`);
  return `usage: conclave k8s start
Run this pod's replica of a StatefulSet (the Helm chart's container): found the cluster, join it as a
learner and get promoted, restore it, or start on this volume's data; then serve until SIGTERM.
Server options come from the same CONCLAVE_* variables as \`conclave server\` (--help there); these
describe the pod:
${lines.join('\n')}
`;
}

/** What the data directory holds: nothing at all, an opened-but-empty store, or Raft state. */
async function dataState(dir: string): Promise<'absent' | 'empty' | 'data'> {
  if (!existsSync(dir) || readdirSync(dir).length === 0) return 'absent';
  const storage = await DiskStorage.open(dir);
  try {
    return storage.isEmpty() ? 'empty' : 'data';
  } finally {
    await storage.close();
  }
}

/** This pod's member id, kept beside its data (it is not derived from the ordinal for members added later). */
const MEMBER_ID_FILE = 'member-id';

export function readMemberId(dataDir: string): number | undefined {
  const path = join(dataDir, MEMBER_ID_FILE);
  if (!existsSync(path)) return undefined;
  const id = Number(readFileSync(path, 'utf8').trim());
  if (!Number.isSafeInteger(id) || id < 1) throw new ConclaveError(ErrorCode.CORRUPTED, `${path} does not hold a member id`);
  return id;
}

function writeMemberId(dataDir: string, id: number): void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, MEMBER_ID_FILE);
  writeFileSync(`${path}.part`, `${id}\n`);
  renameSync(`${path}.part`, path);
}

function views(res: Record<string, unknown>): MemberView[] {
  return (res['members'] as MemberView[]).map((m) => ({ id: m.id, learner: m.learner, peerAddress: m.peerAddress, clientAddress: m.clientAddress }));
}

/**
 * The membership as the leader reports it: ask any member who leads and where, then ask the leader
 * itself (the member list of a member that is behind may be stale).
 */
async function leaderMembers(admin: Admin, addresses: readonly string[]): Promise<{ leader: number; address: string; members: MemberView[] } | undefined> {
  for (const address of addresses) {
    try {
      const first = await admin.call(address, 'cluster', 'MemberList', {}, PROBE_TIMEOUT_MS);
      const leader = first['leader'] as number;
      const leaderAddress = views(first).find((m) => m.id === leader)?.clientAddress;
      if (!leader || !leaderAddress) continue;
      const res = await admin.call(leaderAddress, 'cluster', 'MemberList', {}, PROBE_TIMEOUT_MS);
      if (res['leader'] !== leader) continue;
      return { leader, address: leaderAddress, members: views(res) };
    } catch {
      /* try the next one */
    }
  }
  return undefined;
}

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

class StartLogic {
  readonly #pod: PodIdentity;
  readonly #config: ServerConfig;
  readonly #log: Logger;
  readonly #probeMs: number;
  readonly #restoreFile: string | undefined;
  readonly #started = Date.now();
  #stopping = false;
  #lastReason = '';
  #lastReasonAt = 0;

  constructor(pod: PodIdentity, config: ServerConfig, log: Logger, probeMs: number, restoreFile: string | undefined) {
    this.#pod = pod;
    this.#config = config;
    this.#log = log;
    this.#probeMs = probeMs;
    this.#restoreFile = restoreFile;
  }

  stop(): void {
    this.#stopping = true;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  async #observe(): Promise<StartObservation & { leaderMembers: Awaited<ReturnType<typeof leaderMembers>> }> {
    const state = await dataState(this.#config.dataDir);
    const restoreFile = this.#restoreFile !== undefined && existsSync(this.#restoreFile);
    const base = { hasData: state === 'data', elapsedMs: Date.now() - this.#started, restoreMode: this.#restoreFile !== undefined, restoreFile };
    if (base.hasData) return { ...base, answers: [], members: undefined, leaderMembers: undefined };
    const endpoints = probeEndpoints(this.#pod, this.#pod.ordinal);
    // Fresh connections each time: a channel that failed while a peer was not up yet (or its DNS
    // name not published yet) would otherwise wait out gRPC's reconnect backoff, up to minutes.
    const admin = new Admin(endpoints, PROBE_TIMEOUT_MS, { freshConnections: true, token: memberToken(process.env) });
    try {
      const answers = (
        await Promise.all(
          endpoints.map((address) =>
            admin.call(address, 'cluster', 'Status', {}, PROBE_TIMEOUT_MS).then(
              (s) => ({ address, leader: s['leader'] as number, commit: s['commit'] as number }),
              () => undefined,
            ),
          ),
        )
      ).filter((a) => a !== undefined);
      const withLeader = answers.filter((a) => a.leader !== 0).map((a) => a.address);
      const lm = withLeader.length > 0 ? await leaderMembers(admin, withLeader) : undefined;
      return { ...base, answers, members: lm?.members, leaderMembers: lm };
    } finally {
      admin.close();
    }
  }

  #wait(reason: string): Promise<void> {
    // Say why we wait when the reason changes, and every 10 s while it does not.
    if (reason !== this.#lastReason || Date.now() - this.#lastReasonAt > 10_000) {
      this.#log.info({}, `k8s start: ${reason}`);
      this.#lastReason = reason;
      this.#lastReasonAt = Date.now();
    }
    return sleep(LOOK_AGAIN_MS);
  }

  /** Decide and prepare until the server can start: its config (with this pod's member id), or undefined if stopped first. */
  async run(): Promise<ServerConfig | undefined> {
    const pod = this.#pod;
    const dataDir = this.#config.dataDir;
    const self = podAddresses(pod, pod.ordinal);
    const withSelf = (id: number, members: ReadonlyMap<number, MemberAddress>): Map<number, MemberAddress> => new Map([...[...members].filter(([, m]) => m.peer !== self.peer), [id, self]]);
    while (!this.#stopping) {
      let obs;
      try {
        obs = await this.#observe();
      } catch (err: unknown) {
        await this.#wait(`cannot read the data directory or the cluster: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      const step = nextStartStep(pod, obs, this.#probeMs);
      const ctx = { step: step.kind };
      try {
        switch (step.kind) {
          case 'start': {
            const stored = readMemberId(dataDir);
            const id = stored ?? foundingId(pod.ordinal);
            if (stored === undefined) this.#log.warn({ ...ctx, id }, `k8s start: no ${MEMBER_ID_FILE} file beside the data: assuming the founder's id`);
            this.#log.info({ ...ctx, id }, 'k8s start: the volume holds data: starting on it (never bootstraps)');
            return { ...this.#config, id, join: true, members: withSelf(id, foundingMembers(pod)) };
          }
          case 'found': {
            const id = foundingId(pod.ordinal);
            writeMemberId(dataDir, id);
            this.#log.info({ ...ctx, id, members: membersArg(foundingMembers(pod)) }, 'k8s start: no running cluster found: founding it with the other founding members');
            return { ...this.#config, id, join: false, members: foundingMembers(pod) };
          }
          case 'restore': {
            const file = this.#restoreFile as string;
            const id = foundingId(pod.ordinal);
            if ((await dataState(dataDir)) === 'empty') rmSync(dataDir, { recursive: true, force: true });
            const report = await restoreSnapshot(file, dataDir, foundingMembers(pod));
            writeMemberId(dataDir, id);
            this.#log.info({ ...ctx, id, file, index: report.index, term: report.term, voters: report.voters }, 'k8s start: restored the backup; starting on it');
            return { ...this.#config, id, join: true, members: withSelf(id, foundingMembers(pod)) };
          }
          case 'join': {
            const members = new Map((obs.members ?? []).map((m) => [m.id, { peer: m.peerAddress, client: m.clientAddress }] as const));
            writeMemberId(dataDir, step.id);
            this.#log.info({ ...ctx, id: step.id }, 'k8s start: this pod is a learner of the cluster: joining it');
            return { ...this.#config, id: step.id, join: true, members: withSelf(step.id, members) };
          }
          case 'add': {
            // A fresh id: one no member ever had (a new member replays the log, where the removal of
            // an earlier member with the same id would stop it).
            const taken = new Set((obs.members ?? []).map((m) => m.id));
            let id = randomInt(JOINED_ID_MIN, JOINED_ID_MAX);
            while (taken.has(id)) id = randomInt(JOINED_ID_MIN, JOINED_ID_MAX);
            this.#log.info({ ...ctx, id, peer: self.peer, client: self.client }, 'k8s start: asking the leader to add this pod as a learner');
            await this.#onLeader(obs.leaderMembers?.address, 'MemberAdd', { id, peerAddress: self.peer, clientAddress: self.client });
            break;
          }
          case 'remove-self':
            // Listed as a voter, yet the volume is empty: a lost disk, or a founder that never got to
            // start. Its old votes are forgotten, so it must not vote again under the same entry.
            this.#log.warn({ ...ctx, id: step.id }, 'k8s start: this pod is a voter but its volume is empty: removing its old entry, then it joins as a new learner');
            await this.#onLeader(obs.leaderMembers?.address, 'MemberRemove', { id: step.id });
            break;
          case 'wait':
            await this.#wait(step.reason);
            break;
        }
      } catch (err: unknown) {
        // Another change pending, the leader moved, a member down: look again.
        await this.#wait(`${step.kind} failed: ${isConclaveError(err) ? err.message : String(err)}`);
      }
    }
    return undefined;
  }

  async #onLeader(address: string | undefined, method: string, req: Record<string, unknown>): Promise<void> {
    if (!address) throw new ConclaveError(ErrorCode.UNAVAILABLE, 'no leader address');
    const admin = new Admin([address], 5000, { freshConnections: true, token: memberToken(process.env) });
    try {
      await admin.onLeader(method, req);
    } finally {
      admin.close();
    }
  }

  /**
   * While this member is a learner, wait until it has applied what the leader had committed, then
   * ask the leader to promote it; again until it is a voter (the leader refuses while it lags).
   */
  async promote(server: ConclaveServer, id: number): Promise<void> {
    let announced = false;
    let lastProblem = '';
    while (!this.#stopping) {
      const st = server.driver.status();
      if (st.conf.voters.includes(id)) {
        if (announced) this.#log.info({ id }, 'k8s start: promoted: this member is a voter');
        return;
      }
      if (st.conf.learners.includes(id) && st.lead !== 0) {
        const leaderAddress = server.memberAddresses(st.lead)?.client;
        try {
          if (!leaderAddress) throw new ConclaveError(ErrorCode.UNAVAILABLE, `no address for leader ${st.lead}`);
          const admin = new Admin([leaderAddress], 5000, { freshConnections: true, token: memberToken(process.env) });
          try {
            const leaderCommit = (await admin.status(leaderAddress)).commit;
            if (server.driver.status().applied >= leaderCommit) {
              if (!announced) this.#log.info({ id, applied: server.driver.status().applied, leaderCommit }, 'k8s start: caught up with the leader: asking to be promoted');
              announced = true;
              await admin.onLeader('MemberPromote', { id });
              continue;
            }
          } finally {
            admin.close();
          }
        } catch (err: unknown) {
          // Lagging, another change pending, the leader moving: say so once, then try again.
          const problem = errorLine(err).trim();
          if (problem !== lastProblem) this.#log.info({ id, err: problem }, 'k8s start: promotion not done yet');
          lastProblem = problem;
        }
      }
      await sleep(LOOK_AGAIN_MS);
    }
  }
}

/** `conclave k8s start`. */
export async function runK8sStart(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(k8sStartUsage());
    return EXIT.OK;
  }
  if (argv.length > 0) {
    process.stderr.write(`conclave k8s start: takes no arguments (the environment describes the pod)\n${k8sStartUsage()}`);
    return EXIT.BAD_INPUT;
  }
  let pod: PodIdentity;
  let config: ServerConfig;
  let probeMs: number;
  try {
    pod = podIdentity(process.env);
    const own = pod.addressOverrides.get(pod.podName);
    // The member id is decided below; with an address override the pod listens where it says.
    const flags = own ? ['--listen', own.client, '--peer-listen', own.peer, ...(own.metrics ? ['--metrics-listen', own.metrics] : [])] : [];
    config = parseServerConfig(flags, process.env);
    probeMs = intArg(process.env['CONCLAVE_K8S_FOUNDING_PROBE_MS'] ?? '5000', 'CONCLAVE_K8S_FOUNDING_PROBE_MS', 0);
  } catch (err: unknown) {
    if (!isConclaveError(err)) throw err;
    process.stderr.write(`conclave k8s start: ${err.message}\n`);
    return EXIT.BAD_INPUT;
  }
  const log = pino({ level: config.logLevel, base: { pod: pod.podName } }, pino.destination(2));
  const restoreFile = process.env['CONCLAVE_K8S_RESTORE_FILE']?.trim() || undefined;
  const logic = new StartLogic(pod, config, log, probeMs, restoreFile);
  // SIGTERM while still deciding (a deleted pod, a rolled-back upgrade): stop looking and exit.
  const onSignal = (): void => logic.stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let ready: ServerConfig | undefined;
  try {
    ready = await logic.run();
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  }
  if (!ready) {
    log.info({}, 'k8s start: stopped before the server started');
    return EXIT.OK;
  }
  let server: ConclaveServer | undefined;
  let promoting: Promise<void> = Promise.resolve();
  const id = ready.id;
  const code = await serve(ready, log.child({ member: id }), (s) => {
    server = s;
    promoting = logic.promote(s, id);
  });
  logic.stop();
  await promoting;
  if (server?.driver.node.isRemoved()) {
    log.error(
      { member: id },
      `this member was removed from the cluster (a scale-down, or conclave member remove); its volume holds a removed member's data, on which it will not rejoin. If the StatefulSet still wants this pod (a failed or rolled-back scale-down), delete the pod's PersistentVolumeClaim and then the pod: it comes back as a new member on an empty volume`,
    );
  }
  return code;
}

// ---- scale-down and step-down ----------------------------------------------------------------

async function memberStatuses(admin: Admin, members: readonly MemberView[]): Promise<Map<number, { leader: number; applied: number; role: string }>> {
  const out = new Map<number, { leader: number; applied: number; role: string }>();
  await Promise.all(
    members.map(async (m) => {
      try {
        const s = await admin.status(m.clientAddress);
        out.set(m.id, { leader: s.leader, applied: s.applied, role: s.role });
      } catch {
        /* down or unreachable */
      }
    }),
  );
  return out;
}

async function waitForLeader(endpoints: readonly string[], waitMs: number): Promise<{ leader: number; address: string; members: MemberView[] }> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    // Fresh connections each round (see StartLogic's observe).
    const admin = new Admin(endpoints, PROBE_TIMEOUT_MS, { freshConnections: true, token: memberToken(process.env) });
    const lm = await leaderMembers(admin, endpoints).finally(() => admin.close());
    if (lm) return lm;
    if (Date.now() > deadline) throw new ConclaveError(ErrorCode.UNAVAILABLE, `no member reachable at ${endpoints.join(', ')} knows a leader (waited ${waitMs} ms)`);
    await sleep(LOOK_AGAIN_MS);
  }
}

export const k8sCommands: readonly CommandSpec[] = [
  {
    name: 'k8s scale-down',
    args: '',
    summary:
      'Before a StatefulSet shrinks to --replicas N: remove the members with ordinal >= N through Raft, highest first (the Helm pre-upgrade hook). Refuses if the members that stay have no live majority.',
    options: {
      replicas: { type: 'string', description: 'the new replica count' },
      'wait-ms': { type: 'string', description: 'how long to wait for a leader (default 120000)' },
    },
    positionals: [0, 0],
    run: async (ctx) => {
      const replicas = intArg(ctx.values['replicas'] as string | undefined, '--replicas', 1);
      const waitMs = intArg((ctx.values['wait-ms'] as string | undefined) ?? '120000', '--wait-ms', 0);
      const k = k8sIdentity(process.env);
      const explicit = ctx.values['endpoints'] !== undefined || process.env['CONCLAVE_ENDPOINTS'] !== undefined;
      const endpoints = explicit ? [...ctx.endpoints] : probeEndpoints({ ...k, initialMembers: Math.max(k.initialMembers, replicas) });
      const admin = new Admin(endpoints, ctx.timeoutMs, { tls: ctx.tls ?? null, token: ctx.token ?? memberToken(process.env) });
      try {
        let lm = await waitForLeader(endpoints, waitMs);
        const plan = planScaleDown(k, lm.members, replicas);
        const say = (msg: string): void => void (ctx.out.json ? undefined : ctx.out.write(`${msg}\n`));
        if (plan.remove.length === 0) {
          say(`members ${lm.members.map((m) => m.id).join(', ')}: none has an ordinal >= ${replicas}; nothing to remove`);
          if (ctx.out.json) ctx.out.emit({ removed: [], members: lm.members });
          return EXIT.OK;
        }
        const statuses = await memberStatuses(admin, lm.members);
        const live = new Set([...statuses].filter(([, s]) => s.leader !== 0).map(([id]) => id));
        checkLiveMajority(plan.staying, live);
        const removed: number[] = [];
        for (const id of plan.remove) {
          lm = await waitForLeader(endpoints, waitMs);
          if (lm.leader === id) {
            const fresh = await memberStatuses(admin, lm.members.filter((m) => plan.staying.includes(m.id)));
            const to = transferTarget([...fresh].filter(([, s]) => s.leader === id).map(([sid, s]) => ({ id: sid, applied: s.applied })));
            if (to === undefined) throw new ConclaveError(ErrorCode.UNAVAILABLE, `member ${id} leads and no staying voter is live to take over`);
            say(`member ${id} leads: handing the leadership to ${to}`);
            await admin.call(lm.address, 'cluster', 'TransferLeadership', { to });
            lm = await waitForLeader(endpoints, waitMs);
          }
          const peer = lm.members.find((m) => m.id === id)?.peerAddress ?? '';
          say(`removing member ${id} (pod ordinal ${ordinalOfPeer(k, peer)}, ${peer})`);
          const onLeader = new Admin([lm.address], ctx.timeoutMs, { tls: ctx.tls ?? null, token: ctx.token ?? memberToken(process.env) });
          try {
            await onLeader.onLeader('MemberRemove', { id });
          } finally {
            onLeader.close();
          }
          removed.push(id);
        }
        lm = await waitForLeader(endpoints, waitMs);
        if (ctx.out.json) ctx.out.emit({ removed, members: lm.members });
        else say(`removed ${removed.join(', ')}; members now ${lm.members.map((m) => `${m.id}${m.learner ? ' (learner)' : ''}`).join(', ')}`);
        return EXIT.OK;
      } finally {
        admin.close();
      }
    },
  },
  {
    name: 'k8s step-down',
    args: '',
    summary: "If this pod's member leads, hand the leadership to the most caught-up other voter (the container's preStop). Never removes the member.",
    positionals: [0, 0],
    run: async (ctx) => {
      // This pod's own client listener: the override's address in tests, else the local port.
      const podName = process.env['CONCLAVE_K8S_POD_NAME'];
      let own: string;
      if (ctx.values['endpoints'] !== undefined) own = ctx.endpoints[0] as string;
      else {
        const k = k8sIdentity(process.env);
        const override = podName ? k.addressOverrides.get(podName) : undefined;
        own = override?.client ?? `127.0.0.1:${k.clientPort}`;
      }
      const admin = new Admin([own], ctx.timeoutMs, { tls: ctx.tls ?? null, token: ctx.token ?? memberToken(process.env) });
      try {
        const st = await admin.status(own);
        if (st.role !== 'leader') {
          ctx.out.write(`member ${st.id} does not lead (leader: ${st.leader || 'none'}); nothing to do\n`);
          return EXIT.OK;
        }
        const { members } = await admin.members();
        const others = members.filter((m) => !m.learner && m.id !== st.id);
        const statuses = await memberStatuses(admin, others);
        const to = transferTarget([...statuses].filter(([, s]) => s.leader === st.id).map(([id, s]) => ({ id, applied: s.applied })));
        if (to === undefined) {
          ctx.out.write(`member ${st.id} leads and no other voter is live to take over; stopping as the leader\n`);
          return EXIT.UNAVAILABLE;
        }
        await admin.call(own, 'cluster', 'TransferLeadership', { to });
        ctx.out.write(`member ${st.id} handed the leadership to ${to}\n`);
        return EXIT.OK;
      } finally {
        admin.close();
      }
    },
  },
];

/** How long a token the member mints for its own commands lives: one command's worth. */
const MEMBER_TOKEN_TTL_MS = 10 * 60 * 1000;

/**
 * The token the chart's own commands act with: CONCLAVE_TOKEN if set; else, beside a member that
 * verifies tokens (CONCLAVE_AUTH_TOKEN_SECRET_FILE), a short-lived root token minted from that
 * secret (whoever reads the secret may mint any token anyway); else none (a client certificate, or
 * auth off). Membership changes need admin on `/`.
 */
export function memberToken(env: Readonly<Record<string, string | undefined>>): string | null {
  if (env['CONCLAVE_TOKEN']) return env['CONCLAVE_TOKEN'];
  const file = env['CONCLAVE_AUTH_TOKEN_SECRET_FILE'];
  if (!file) return null;
  try {
    return mintToken(readFileSync(file), ROOT_IDENTITY, MEMBER_TOKEN_TTL_MS, Date.now());
  } catch {
    // An unreadable or short secret: the member itself refuses to start with it and says why.
    return null;
  }
}
