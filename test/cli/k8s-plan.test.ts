/**
 * The decisions of `conclave k8s start` and `conclave k8s scale-down`, one rule per case: who founds,
 * who joins, who just starts, who waits; what a scale-down removes and when it refuses.
 */
import { describe, expect, it } from 'vitest';
import {
  type MemberView,
  type PodIdentity,
  type StartObservation,
  checkLiveMajority,
  foundingMembers,
  membersArg,
  nextStartStep,
  ordinalOfPeer,
  parseAddressOverrides,
  planScaleDown,
  podAddresses,
  podIdentity,
  probeEndpoints,
  transferTarget,
} from '../../src/cli/k8s-plan.js';

const ENV = {
  CONCLAVE_K8S_POD_NAME: 'cc-2',
  CONCLAVE_K8S_STATEFULSET: 'cc',
  CONCLAVE_K8S_NAMESPACE: 'prod',
  CONCLAVE_K8S_PEER_SERVICE: 'cc-peers',
  CONCLAVE_K8S_CLIENT_SERVICE: 'cc',
  CONCLAVE_K8S_INITIAL_MEMBERS: '3',
};

function pod(name: string, env: Record<string, string> = {}): PodIdentity {
  return podIdentity({ ...ENV, CONCLAVE_K8S_POD_NAME: name, ...env });
}

const empty: StartObservation = { hasData: false, answers: [], members: undefined, elapsedMs: 0, restoreFile: false, restoreMode: false };
/** Member `id` at pod `ordinal`'s stable addresses. */
const member = (id: number, ordinal: number, learner = false): MemberView => ({
  id,
  learner,
  peerAddress: `cc-${ordinal}.cc-peers.prod.svc.cluster.local:4190`,
  clientAddress: `cc-${ordinal}.cc-peers.prod.svc.cluster.local:4180`,
});

describe('pod identity', () => {
  it('takes the ordinal from the pod name and names every member by its stable DNS name', () => {
    const p = pod('cc-2');
    expect(p.ordinal).toBe(2);
    expect(podAddresses(p, 0)).toEqual({ peer: 'cc-0.cc-peers.prod.svc.cluster.local:4190', client: 'cc-0.cc-peers.prod.svc.cluster.local:4180' });
    expect(membersArg(foundingMembers(p))).toBe(
      '1=cc-0.cc-peers.prod.svc.cluster.local:4190/cc-0.cc-peers.prod.svc.cluster.local:4180,' +
        '2=cc-1.cc-peers.prod.svc.cluster.local:4190/cc-1.cc-peers.prod.svc.cluster.local:4180,' +
        '3=cc-2.cc-peers.prod.svc.cluster.local:4190/cc-2.cc-peers.prod.svc.cluster.local:4180',
    );
    expect(probeEndpoints(p, 2)).toEqual(['cc-0.cc-peers.prod.svc.cluster.local:4180', 'cc-1.cc-peers.prod.svc.cluster.local:4180', 'cc.prod.svc.cluster.local:4180']);
    expect(podAddresses(pod('cc-0', { CONCLAVE_K8S_CLUSTER_DOMAIN: 'k.example', CONCLAVE_K8S_PEER_PORT: '7000' }), 4).peer).toBe('cc-4.cc-peers.prod.svc.k.example:7000');
    // A pod beyond the founders also probes the founders.
    expect(probeEndpoints(pod('cc-4'), 4)).toHaveLength(5);
    // A member's pod, from its peer address; members elsewhere belong to no pod.
    expect(ordinalOfPeer(p, 'cc-7.cc-peers.prod.svc.cluster.local:4190')).toBe(7);
    expect(ordinalOfPeer(p, 'cc-7.cc-peers.other.svc.cluster.local:4190')).toBeUndefined();
    expect(ordinalOfPeer(p, 'cc-07.cc-peers.prod.svc.cluster.local:4190')).toBeUndefined();
    expect(ordinalOfPeer(p, '10.0.0.7:4190')).toBeUndefined();
  });

  it('refuses a pod name that is not <statefulset>-<ordinal>, and missing or malformed settings', () => {
    expect(() => pod('other-2')).toThrow(/not a pod of StatefulSet cc/);
    expect(() => pod('cc-02')).toThrow(/not a pod of StatefulSet cc/);
    expect(() => pod('cc-x')).toThrow(/not a pod of StatefulSet cc/);
    expect(() => podIdentity({ ...ENV, CONCLAVE_K8S_NAMESPACE: '' })).toThrow(/CONCLAVE_K8S_NAMESPACE is not set/);
    expect(() => pod('cc-1', { CONCLAVE_K8S_INITIAL_MEMBERS: '0' })).toThrow(/positive integer/);
    expect(() => pod('cc-1', { CONCLAVE_K8S_CLIENT_PORT: '70000' })).toThrow(/port number/);
    expect(() => pod('cc-1', { CONCLAVE_K8S_PEER_SERVICE: 'Bad_Name' })).toThrow(/DNS label/);
  });

  it('lets a test map pod names to other addresses', () => {
    const overrides = parseAddressOverrides('cc-0=127.0.0.1:5001/127.0.0.1:5002/127.0.0.1:5003,cc-1=127.0.0.1:5011/127.0.0.1:5012');
    expect(overrides.get('cc-0')).toEqual({ peer: '127.0.0.1:5001', client: '127.0.0.1:5002', metrics: '127.0.0.1:5003' });
    const p = pod('cc-1', { CONCLAVE_K8S_ADDRESSES: 'cc-0=127.0.0.1:5001/127.0.0.1:5002,cc-1=127.0.0.1:5011/127.0.0.1:5012' });
    expect(podAddresses(p, 0).client).toBe('127.0.0.1:5002');
    expect(podAddresses(p, 2).client).toBe('cc-2.cc-peers.prod.svc.cluster.local:4180');
    expect(ordinalOfPeer(p, '127.0.0.1:5011')).toBe(1);
    // With overrides the client Service (a real DNS name) is not probed.
    expect(probeEndpoints(p, 1)).not.toContain('cc.prod.svc.cluster.local:4180');
    expect(() => parseAddressOverrides('cc-0=nowhere')).toThrow(/CONCLAVE_K8S_ADDRESSES entry/);
  });
});

describe('k8s start', () => {
  const founder = pod('cc-1');
  const newcomer = pod('cc-3');

  it('starts on the data it has, whatever the cluster says: a restart never changes the membership', () => {
    for (const p of [founder, newcomer]) {
      expect(nextStartStep(p, { ...empty, hasData: true }, 5000)).toEqual({ kind: 'start' });
      expect(nextStartStep(p, { ...empty, hasData: true, members: [member(1, 0)], answers: [{ address: 'a', leader: 1, commit: 9 }] }, 5000)).toEqual({ kind: 'start' });
    }
  });

  it('a founder with an empty volume founds only after the probe window, when no member knows or knew a leader', () => {
    expect(nextStartStep(founder, { ...empty, elapsedMs: 100 }, 5000).kind).toBe('wait');
    expect(nextStartStep(founder, { ...empty, elapsedMs: 5000 }, 5000)).toEqual({ kind: 'found' });
    // Other founders answering with just the bootstrap entries committed: still a first start.
    expect(nextStartStep(founder, { ...empty, elapsedMs: 5000, answers: [{ address: 'a', leader: 0, commit: 3 }] }, 5000)).toEqual({ kind: 'found' });
    // A member that committed beyond the bootstrap entries had a leader once: never found again.
    const existed = nextStartStep(founder, { ...empty, elapsedMs: 60_000, answers: [{ address: 'a', leader: 0, commit: 4 }] }, 5000);
    expect(existed.kind).toBe('wait');
    expect(existed.kind === 'wait' && existed.reason).toMatch(/the cluster exists/);
  });

  it('a pod beyond the founders never founds: it waits for a leader', () => {
    const s = nextStartStep(newcomer, { ...empty, elapsedMs: 3_600_000 }, 5000);
    expect(s.kind).toBe('wait');
    expect(s.kind === 'wait' && s.reason).toMatch(/not a founding member/);
  });

  it('with a leader: adds itself as a learner, joins as one, and removes its own stale voter entry first, finding itself by address', () => {
    const leader = [{ address: 'a', leader: 1, commit: 50 }];
    const founders = [member(1, 0), member(2, 1), member(3, 2)];
    expect(nextStartStep(newcomer, { ...empty, answers: leader }, 5000).kind).toBe('wait'); // the leader's list is not in yet
    expect(nextStartStep(newcomer, { ...empty, answers: leader, members: founders }, 5000)).toEqual({ kind: 'add' });
    expect(nextStartStep(newcomer, { ...empty, answers: leader, members: [...founders, member(81234, 3, true)] }, 5000)).toEqual({ kind: 'join', id: 81234 });
    // Another member with this pod's ordinal + 1 as its id is not this pod.
    expect(nextStartStep(newcomer, { ...empty, answers: leader, members: [...founders, member(4, 4, true)] }, 5000)).toEqual({ kind: 'add' });
    // A founder whose volume is empty while the cluster lists it as a voter (lost disk, or it
    // started late): its old entry goes first, so it never votes with a forgotten log.
    expect(nextStartStep(founder, { ...empty, answers: leader, members: founders }, 5000)).toEqual({ kind: 'remove-self', id: 2 });
    expect(nextStartStep(founder, { ...empty, answers: leader, members: [member(1, 0), member(3, 2)] }, 5000)).toEqual({ kind: 'add' });
    expect(nextStartStep(founder, { ...empty, answers: leader, members: [member(1, 0), member(3, 2), member(5555, 1)] }, 5000)).toEqual({ kind: 'remove-self', id: 5555 });
  });

  it('in restore mode a founder waits for the backup and founds from it, never empty', () => {
    const restoring = { ...empty, restoreMode: true, elapsedMs: 60_000 };
    expect(nextStartStep(founder, restoring, 5000).kind).toBe('wait');
    expect(nextStartStep(founder, { ...restoring, restoreFile: true }, 5000)).toEqual({ kind: 'restore' });
    // Restored members already hold the backup's index: this founder still restores, it does not wait to join.
    expect(nextStartStep(founder, { ...restoring, restoreFile: true, answers: [{ address: 'a', leader: 0, commit: 900 }] }, 5000)).toEqual({ kind: 'restore' });
    expect(nextStartStep(newcomer, { ...restoring, restoreFile: true }, 5000).kind).toBe('wait');
  });
});

describe('k8s scale-down', () => {
  it('removes the members whose pod ordinal is >= replicas, highest first, learners included', () => {
    const k = pod('cc-0');
    const members = [member(1, 0), member(2, 1), member(3, 2), member(7001, 4, true), member(4242, 3)];
    expect(planScaleDown(k, members, 3)).toEqual({ remove: [7001, 4242], staying: [1, 2, 3] });
    expect(planScaleDown(k, members, 5)).toEqual({ remove: [], staying: [1, 2, 3, 4242] });
    // A member at an address of no pod of this StatefulSet is left alone (and counts as staying).
    const outsider = { id: 9, learner: false, peerAddress: 'elsewhere:4190', clientAddress: 'elsewhere:4180' };
    expect(planScaleDown(k, [...members, outsider], 3)).toEqual({ remove: [7001, 4242], staying: [1, 2, 3, 9] });
    expect(() => planScaleDown(k, [member(4, 3), member(5, 4)], 3)).toThrow(/no voter/);
    expect(() => planScaleDown(k, members, 0)).toThrow(/--replicas/);
  });

  it('needs a live majority of the members that stay', () => {
    expect(() => checkLiveMajority([1, 2, 3], new Set([1, 2]))).not.toThrow();
    expect(() => checkLiveMajority([1, 2, 3], new Set([1, 4, 5]))).toThrow(/only 1 of the 3 members that would stay/);
    expect(() => checkLiveMajority([1, 2, 3, 4, 5], new Set([1, 2]))).toThrow(/3 are needed/);
  });

  it('hands the leadership to the most caught-up staying voter', () => {
    expect(transferTarget([{ id: 1, applied: 10 }, { id: 2, applied: 12 }, { id: 3, applied: 12 }])).toBe(2);
    expect(transferTarget([])).toBeUndefined();
  });
});
