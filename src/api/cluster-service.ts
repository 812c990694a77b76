/**
 * The handlers of the `Cluster` service: status, leadership transfer, membership (add a learner,
 * promote it once caught up, remove) and snapshot download for backups.
 */
import { createReadStream } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { ConfChangeType, type ConfChange, type NodeId } from '../raft/index.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { encodeMemberAddresses } from '../state/index.js';
import type { CallContext, Handler } from './conclave-service.js';
import { authorize, refusedAtTheDoor } from './access-control.js';
import { toServiceError } from './error-status.js';
import { clientHostOf } from './session-stream.js';
import { type Req, bad, num, str } from './request-parsing.js';

const TRANSFER_TIMEOUT_MS = 10_000;
/** A learner this many entries behind the leader's log may not be promoted yet. */
export const PROMOTE_LAG_MAX_ENTRIES = 1000;
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

function memberId(req: Req): NodeId {
  const id = num(req, 'id');
  if (id < 1 || id > 0xffffffff) throw bad(`member id must be in 1..${0xffffffff}, got ${id}`);
  return id;
}

function hostPort(req: Req, field: string): string {
  const v = str(req, field);
  if (!/^[^\s:/]+:\d{1,5}$/.test(v)) throw bad(`${field} must be host:port, got "${v}"`);
  return v;
}

function memberList(server: ConclaveServer): object {
  const s = server.driver.status();
  const ids = [...s.conf.voters, ...s.conf.learners].sort((a, b) => a - b);
  return {
    leader: s.lead,
    members: ids.map((id) => {
      const a = server.memberAddresses(id);
      return { id, peerAddress: a?.peer ?? '', clientAddress: a?.client ?? '', learner: s.conf.learners.includes(id) };
    }),
  };
}

async function changeMembership(server: ConclaveServer, cc: ConfChange): Promise<object> {
  if (!server.isLeader()) throw server.notLeader();
  await server.driver.proposeConfChange(cc);
  return memberList(server);
}

/** Changing the cluster, or copying all of its data, needs `admin` on `/`. */
function clusterAdmin(server: ConclaveServer, ctx: CallContext): void {
  authorize(server, ctx, 'admin', '/');
}

export function clusterHandlers(server: ConclaveServer): Record<string, Handler> {
  return {
    TransferLeadership: async (req, ctx) => {
      clusterAdmin(server, ctx);
      const to = num(req, 'to');
      const s = server.driver.status();
      if (!s.conf.voters.includes(to)) throw bad(`member ${to} is not a voter`);
      if (s.role !== 'leader') throw server.notLeader();
      if (to === s.id) return { leader: s.id };
      server.driver.transferLeadership(to);
      // The core abandons a transfer that takes longer than an election timeout; so do we.
      const deadline = Date.now() + TRANSFER_TIMEOUT_MS;
      while (Date.now() < deadline) {
        const lead = server.driver.status().lead;
        if (lead === to) return { leader: to };
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new ConclaveError(ErrorCode.UNAVAILABLE, `leadership did not move to ${to} within ${TRANSFER_TIMEOUT_MS} ms`);
    },
    Status: async () => {
      const s = server.driver.status();
      return {
        id: s.id,
        role: s.role,
        term: s.term,
        leader: s.lead,
        commit: s.commit,
        applied: s.applied,
        zxid: server.sm.lastApplied,
        voters: s.conf.voters,
        learners: s.conf.learners,
        digest: server.sm.digest(),
      };
    },
    MemberList: async () => memberList(server),
    MemberAdd: async (req, ctx) => {
      clusterAdmin(server, ctx);
      const id = memberId(req);
      const peer = hostPort(req, 'peerAddress');
      const client = hostPort(req, 'clientAddress');
      return changeMembership(server, { type: ConfChangeType.AddLearner, nodeId: id, context: encodeMemberAddresses({ peer, client }) });
    },
    MemberPromote: async (req, ctx) => {
      clusterAdmin(server, ctx);
      const id = memberId(req);
      if (!server.isLeader()) throw server.notLeader();
      const raft = server.driver.node.raft;
      if (!raft.conf.learners.includes(id)) throw new ConclaveError(ErrorCode.BAD_MEMBERSHIP_CHANGE, `member ${id} is not a learner`);
      const lag = raft.log.lastIndex() - (raft.progress.get(id)?.match ?? 0);
      if (lag > PROMOTE_LAG_MAX_ENTRIES) {
        throw new ConclaveError(ErrorCode.BAD_MEMBERSHIP_CHANGE, `learner ${id} is ${lag} entries behind the leader; promote it once it has caught up (within ${PROMOTE_LAG_MAX_ENTRIES})`, { lag });
      }
      return changeMembership(server, { type: ConfChangeType.AddVoter, nodeId: id });
    },
    MemberRemove: async (req, ctx) => {
      clusterAdmin(server, ctx);
      return changeMembership(server, { type: ConfChangeType.Remove, nodeId: memberId(req) });
    },
  };
}

/** SnapshotDownload: a fresh snapshot of this replica, streamed in chunks. */
export function snapshotDownload(server: ConclaveServer) {
  return (call: grpc.ServerWritableStream<Req, object>): void => {
    const fail = (err: unknown): void => {
      call.emit('error', toServiceError(err, server.leaderAddress()));
    };
    const clientHost = clientHostOf(call.getPeer());
    try {
      clusterAdmin(server, { clientHost, caller: server.auth.identify(call) });
    } catch (err: unknown) {
      refusedAtTheDoor(server, 'SnapshotDownload', clientHost, err);
      fail(err);
      return;
    }
    server.snapshotForDownload().then(({ path, index, bytes }) => {
      const file = createReadStream(path, { highWaterMark: SNAPSHOT_CHUNK_BYTES });
      let first = true;
      file.on('data', (chunk) => {
        const ok = call.write(first ? { index, totalBytes: bytes, data: chunk } : { data: chunk });
        first = false;
        if (!ok) {
          file.pause();
          call.once('drain', () => file.resume());
        }
      });
      file.on('end', () => call.end());
      file.on('error', fail);
      call.on('cancelled', () => file.destroy());
    }, fail);
  };
}
