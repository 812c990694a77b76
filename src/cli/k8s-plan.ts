/**
 * Running as a Kubernetes StatefulSet: who this pod is (its ordinal, hence its member id), what
 * every member is called (stable DNS names through the headless Service, never IPs), and the pure
 * decisions of `conclave k8s start` and `conclave k8s scale-down`. No I/O here: the shell
 * (k8s-commands.ts) observes the cluster, asks these functions what to do, does it, and asks again.
 *
 * The rules (README, Running a cluster, In Kubernetes with Helm, explains them):
 * - A pod is a member through its stable peer address (its DNS name holds the pod's name), not
 *   through its member id. Founders take ids 1 .. initialMembers (ordinal + 1); a member added later
 *   takes a fresh random id, because a member id must never be used twice: a new member replays
 *   the log, and the removal of an earlier member with its id would stop it. The id is kept on the
 *   pod's volume (member-id), so the pod's name, volume and id never change across restarts.
 * - A pod whose volume holds data just starts (never bootstraps): a restart or an eviction never
 *   changes the membership.
 * - A pod with an empty volume joins whenever the cluster exists (some member knows a leader, or
 *   says it ever had one): it is added as a learner (after removing its own stale voter entry, so
 *   a member that lost its disk never votes with amnesia), starts with --join, catches up and is
 *   promoted.
 * - Only a founding pod (ordinal < initial members) with an empty volume founds the cluster, with
 *   the same --members list as the other founders, and only when no member answering within the
 *   founding probe window knows or ever knew a leader.
 * - Scale-down removes members with ordinal >= the new replica count through Raft, highest first,
 *   moving the leadership off a member before removing it, and refuses if the members that stay
 *   would not include a live majority of themselves.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { MemberAddress } from '../server/config.js';

export interface K8sIdentity {
  readonly statefulSet: string;
  readonly namespace: string;
  readonly peerService: string;
  /** The client Service, tried after the members' own names. */
  readonly clientService: string | undefined;
  readonly clusterDomain: string;
  readonly initialMembers: number;
  readonly clientPort: number;
  readonly peerPort: number;
  /**
   * Addresses to use instead of a pod's DNS names (pod name → addresses), for tests that run the
   * pods as processes on one machine, or networks where pods are reached some other way.
   */
  readonly addressOverrides: ReadonlyMap<string, PodAddresses>;
}

export interface PodIdentity extends K8sIdentity {
  readonly podName: string;
  readonly ordinal: number;
}

export interface PodAddresses {
  readonly peer: string;
  readonly client: string;
  /** Only in overrides: this pod's HTTP listener (in Kubernetes the chart's CONCLAVE_METRICS_LISTEN). */
  readonly metrics?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function bad(message: string): ConclaveError {
  return new ConclaveError(ErrorCode.BAD_ARGUMENTS, message);
}

function required(env: Env, name: string): string {
  const v = env[name]?.trim();
  if (!v) throw bad(`${name} is not set (the Helm chart sets it; see README, In Kubernetes with Helm)`);
  return v;
}

function port(raw: string | undefined, name: string, dflt: number): number {
  if (raw === undefined || raw.trim() === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw bad(`${name} must be a port number, got "${raw}"`);
  return n;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function dnsLabel(v: string, name: string): string {
  if (v.length > 63 || !DNS_LABEL.test(v)) throw bad(`${name} must be a DNS label (lower case letters, digits, '-'), got "${v}"`);
  return v;
}

/** `pod=peerHost:port/clientHost:port[/metricsHost:port],…` (CONCLAVE_K8S_ADDRESSES). */
export function parseAddressOverrides(raw: string | undefined): Map<string, PodAddresses> {
  const out = new Map<string, PodAddresses>();
  if (raw === undefined || raw.trim() === '') return out;
  for (const part of raw.split(',')) {
    const m = /^\s*([a-z0-9][-a-z0-9.]*)=([^\s/:]+:\d{1,5})\/([^\s/:]+:\d{1,5})(?:\/([^\s/:]+:\d{1,5}))?\s*$/.exec(part);
    if (!m) throw bad(`CONCLAVE_K8S_ADDRESSES entry "${part}" must look like pod-0=host:port/host:port[/host:port] (peer/client[/metrics])`);
    out.set(m[1] as string, { peer: m[2] as string, client: m[3] as string, ...(m[4] ? { metrics: m[4] } : {}) });
  }
  return out;
}

/** Where the cluster's members are, from the environment the chart gives every conclave k8s command. */
export function k8sIdentity(env: Env): K8sIdentity {
  const initialRaw = env['CONCLAVE_K8S_INITIAL_MEMBERS'] ?? '3';
  const initialMembers = Number(initialRaw);
  if (!Number.isInteger(initialMembers) || initialMembers < 1) throw bad(`CONCLAVE_K8S_INITIAL_MEMBERS must be a positive integer, got "${initialRaw}"`);
  const clientService = env['CONCLAVE_K8S_CLIENT_SERVICE']?.trim();
  return {
    statefulSet: dnsLabel(required(env, 'CONCLAVE_K8S_STATEFULSET'), 'CONCLAVE_K8S_STATEFULSET'),
    namespace: dnsLabel(required(env, 'CONCLAVE_K8S_NAMESPACE'), 'CONCLAVE_K8S_NAMESPACE'),
    peerService: dnsLabel(required(env, 'CONCLAVE_K8S_PEER_SERVICE'), 'CONCLAVE_K8S_PEER_SERVICE'),
    clientService: clientService ? dnsLabel(clientService, 'CONCLAVE_K8S_CLIENT_SERVICE') : undefined,
    clusterDomain: env['CONCLAVE_K8S_CLUSTER_DOMAIN']?.trim() || 'cluster.local',
    initialMembers,
    clientPort: port(env['CONCLAVE_K8S_CLIENT_PORT'], 'CONCLAVE_K8S_CLIENT_PORT', 4180),
    peerPort: port(env['CONCLAVE_K8S_PEER_PORT'], 'CONCLAVE_K8S_PEER_PORT', 4190),
    addressOverrides: parseAddressOverrides(env['CONCLAVE_K8S_ADDRESSES']),
  };
}

/** This pod: the cluster's identity plus its own name and ordinal (`<statefulset>-<ordinal>`). */
export function podIdentity(env: Env): PodIdentity {
  const base = k8sIdentity(env);
  const podName = required(env, 'CONCLAVE_K8S_POD_NAME');
  const prefix = `${base.statefulSet}-`;
  const suffix = podName.startsWith(prefix) ? podName.slice(prefix.length) : '';
  if (!/^(0|[1-9]\d{0,8})$/.test(suffix)) throw bad(`CONCLAVE_K8S_POD_NAME "${podName}" is not a pod of StatefulSet ${base.statefulSet} (${prefix}<ordinal>)`);
  return { ...base, podName, ordinal: Number(suffix) };
}

export function podName(k: K8sIdentity, ordinal: number): string {
  return `${k.statefulSet}-${ordinal}`;
}

/** A pod's stable DNS name: <pod>.<headless service>.<namespace>.svc.<cluster domain>. */
export function podHost(k: K8sIdentity, ordinal: number): string {
  return `${podName(k, ordinal)}.${k.peerService}.${k.namespace}.svc.${k.clusterDomain}`;
}

/** The addresses a member advertises (and peers dial, re-resolving the name on every reconnect). */
export function podAddresses(k: K8sIdentity, ordinal: number): PodAddresses {
  const override = k.addressOverrides.get(podName(k, ordinal));
  if (override) return override;
  const host = podHost(k, ordinal);
  return { peer: `${host}:${k.peerPort}`, client: `${host}:${k.clientPort}` };
}

/** The client Service's address, if there is one. */
export function clientServiceAddress(k: K8sIdentity): string | undefined {
  return k.clientService ? `${k.clientService}.${k.namespace}.svc.${k.clusterDomain}:${k.clientPort}` : undefined;
}

/** A founder's member id: ordinal + 1 (ids of members added later are random, see above). */
export function foundingId(ordinal: number): number {
  return ordinal + 1;
}

/** Smallest and largest id a member added after the founding may take (never a founder's). */
export const JOINED_ID_MIN = 1000;
export const JOINED_ID_MAX = 0xffffffff;

/** The pod ordinal a member's peer address names, if it names a pod of this StatefulSet. */
export function ordinalOfPeer(k: K8sIdentity, peerAddress: string): number | undefined {
  for (const [name, a] of k.addressOverrides) {
    if (a.peer === peerAddress && name.startsWith(`${k.statefulSet}-`)) {
      const suffix = name.slice(k.statefulSet.length + 1);
      if (/^(0|[1-9]\d*)$/.test(suffix)) return Number(suffix);
    }
  }
  const tail = `.${k.peerService}.${k.namespace}.svc.${k.clusterDomain}:${k.peerPort}`;
  if (!peerAddress.startsWith(`${k.statefulSet}-`) || !peerAddress.endsWith(tail)) return undefined;
  const suffix = peerAddress.slice(k.statefulSet.length + 1, peerAddress.length - tail.length);
  return /^(0|[1-9]\d{0,8})$/.test(suffix) ? Number(suffix) : undefined;
}

/** The founding member list, the same on every founder: ordinals 0 .. initialMembers-1. */
export function foundingMembers(k: K8sIdentity): Map<number, MemberAddress> {
  const members = new Map<number, MemberAddress>();
  for (let o = 0; o < k.initialMembers; o++) members.set(foundingId(o), podAddresses(k, o));
  return members;
}

/** `--members` text for a member map. */
export function membersArg(members: ReadonlyMap<number, MemberAddress>): string {
  return [...members].sort(([a], [b]) => a - b).map(([id, m]) => `${id}=${m.peer}/${m.client}`).join(',');
}

/** Where to look for the cluster: the founders' client addresses (not this pod's), then the client Service. */
export function probeEndpoints(k: K8sIdentity, selfOrdinal?: number): string[] {
  const out: string[] = [];
  for (let o = 0; o < Math.max(k.initialMembers, (selfOrdinal ?? -1) + 1); o++) if (o !== selfOrdinal) out.push(podAddresses(k, o).client);
  const svc = clientServiceAddress(k);
  if (svc && k.addressOverrides.size === 0) out.push(svc);
  return out;
}

// ---- k8s start -------------------------------------------------------------------------------

export interface MemberView {
  readonly id: number;
  readonly learner: boolean;
  readonly peerAddress: string;
  readonly clientAddress: string;
}

/** What the start logic has seen so far. */
export interface StartObservation {
  /** The data directory holds a log or a snapshot. */
  readonly hasData: boolean;
  /** Members that answered Status: who they think leads (0: nobody) and their commit index. */
  readonly answers: readonly { readonly address: string; readonly leader: number; readonly commit: number }[];
  /** The membership as the leader reports it, once a leader was reached. */
  readonly members: readonly MemberView[] | undefined;
  /** Milliseconds spent looking so far. */
  readonly elapsedMs: number;
  /** A restore file is waiting (restore mode). */
  readonly restoreFile: boolean;
  /** Restore mode is on (the pod waits for a restore file rather than founding an empty cluster). */
  readonly restoreMode: boolean;
}

export type StartStep =
  /** Start the server on the data we have (never bootstraps). */
  | { readonly kind: 'start' }
  /** Found the cluster: bootstrap with the founding member list. */
  | { readonly kind: 'found' }
  /** Restore the waiting snapshot file into the empty data directory, then start. */
  | { readonly kind: 'restore' }
  /** Ask the leader to add this pod as a learner, under a fresh member id. */
  | { readonly kind: 'add' }
  /** Ask the leader to remove this pod's stale entry `id` (listed as a voter, but the volume is empty). */
  | { readonly kind: 'remove-self'; readonly id: number }
  /** Start with --join as member `id`: the cluster has this pod as a learner. */
  | { readonly kind: 'join'; readonly id: number }
  /** Look again later. */
  | { readonly kind: 'wait'; readonly reason: string };

/**
 * The next step of `conclave k8s start`. Called again after each step (or wait) with a fresh
 * observation, until it says start, found, restore or join.
 */
export function nextStartStep(pod: PodIdentity, obs: StartObservation, foundingProbeMs: number): StartStep {
  if (obs.hasData) return { kind: 'start' };
  const leaderKnown = obs.answers.some((a) => a.leader !== 0);
  if (obs.members) {
    // This pod's entry is the member at its own stable peer address.
    const self = podAddresses(pod, pod.ordinal).peer;
    const me = obs.members.find((m) => m.peerAddress === self);
    if (!me) return { kind: 'add' };
    if (!me.learner) return { kind: 'remove-self', id: me.id };
    return { kind: 'join', id: me.id };
  }
  if (leaderKnown) return { kind: 'wait', reason: 'a leader is known; asking it for the member list' };
  if (pod.ordinal >= pod.initialMembers) return { kind: 'wait', reason: `ordinal ${pod.ordinal} is not a founding member (initial members: ${pod.initialMembers}); waiting for the cluster to have a leader to join` };
  // Restore mode: a founder seeds its volume from the backup (once it is there) instead of founding.
  if (obs.restoreMode) return obs.restoreFile ? { kind: 'restore' } : { kind: 'wait', reason: 'restore mode: waiting for the backup at the restore file path (see README, In Kubernetes with Helm)' };
  // The founders' bootstrap entries are committed at index initialMembers; anything beyond means
  // a leader was elected once: the cluster exists, and this empty volume must not found it again.
  const existed = obs.answers.find((a) => a.commit > pod.initialMembers);
  if (existed) return { kind: 'wait', reason: `member at ${existed.address} has commit index ${existed.commit}: the cluster exists; waiting for a leader to join it` };
  if (obs.elapsedMs < foundingProbeMs) return { kind: 'wait', reason: 'looking for a running cluster before founding one' };
  return { kind: 'found' };
}

// ---- k8s scale-down --------------------------------------------------------------------------

export interface ScaleDownPlan {
  /** Member ids to remove, in order (highest ordinal first). */
  readonly remove: readonly number[];
  /** The voters that stay (members at no pod address of this StatefulSet stay too). */
  readonly staying: readonly number[];
}

/** Members whose pod ordinal is >= `replicas` go, highest first; refuses if no voter would stay. */
export function planScaleDown(k: K8sIdentity, members: readonly MemberView[], replicas: number): ScaleDownPlan {
  if (!Number.isInteger(replicas) || replicas < 1) throw bad(`--replicas must be a positive integer, got ${replicas}`);
  const going = (m: MemberView): boolean => (ordinalOfPeer(k, m.peerAddress) ?? -1) >= replicas;
  const remove = members
    .filter(going)
    .sort((a, b) => (ordinalOfPeer(k, b.peerAddress) as number) - (ordinalOfPeer(k, a.peerAddress) as number))
    .map((m) => m.id);
  const staying = members.filter((m) => !m.learner && !going(m)).map((m) => m.id).sort((a, b) => a - b);
  if (remove.length > 0 && staying.length === 0) throw bad(`removing members ${remove.join(', ')} would leave no voter`);
  return { remove, staying };
}

/** A majority of the staying voters must be live and know a leader before anything is removed. */
export function checkLiveMajority(staying: readonly number[], live: ReadonlySet<number>): void {
  const up = staying.filter((id) => live.has(id));
  const need = Math.floor(staying.length / 2) + 1;
  if (up.length < need) {
    throw new ConclaveError(
      ErrorCode.UNAVAILABLE,
      `only ${up.length} of the ${staying.length} members that would stay (${staying.join(', ')}) are live and know a leader; ${need} are needed. Refusing to shrink: fix the cluster first`,
    );
  }
}

/** The voter to hand the leadership to: a staying, live voter with the highest applied index. */
export function transferTarget(candidates: readonly { readonly id: number; readonly applied: number }[]): number | undefined {
  return [...candidates].sort((a, b) => b.applied - a.applied || a.id - b.id)[0]?.id;
}
