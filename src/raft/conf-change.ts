/**
 * Membership changes travel through the log as ConfChange entries. The encoding is five bytes,
 * the change type and the node id (uint32, big-endian), followed by the optional context bytes.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { type ConfChange, type ConfChangeType, type ConfState, ConfChangeType as CCT, type NodeId } from './types.js';

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const context = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(5 + context.length);
  out[0] = cc.type;
  new DataView(out.buffer).setUint32(1, cc.nodeId);
  out.set(context, 5);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 5 || (data[0] as number) > CCT.Remove) {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `malformed conf change entry (${data.length} bytes)`);
  }
  const nodeId = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1);
  const type = data[0] as ConfChangeType;
  return data.length === 5 ? { type, nodeId } : { type, nodeId, context: data.subarray(5) };
}

/** The membership after applying `cc` to `conf`. */
export function applyToConfState(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.filter((id) => id !== cc.nodeId);
  const learners = conf.learners.filter((id) => id !== cc.nodeId);
  if (cc.type === CCT.AddVoter) voters.push(cc.nodeId);
  if (cc.type === CCT.AddLearner) learners.push(cc.nodeId);
  return { voters: voters.sort(byId), learners: learners.sort(byId) };
}

/**
 * Why `cc` may not be proposed against `conf`, or undefined if it may. One server at a time:
 * promote only a learner, never remove the last voter.
 */
export function confChangeProblem(conf: ConfState, cc: ConfChange): string | undefined {
  const isVoter = conf.voters.includes(cc.nodeId);
  const isLearner = conf.learners.includes(cc.nodeId);
  if (!Number.isInteger(cc.nodeId) || cc.nodeId <= 0 || cc.nodeId > 0xffffffff) return `bad node id ${cc.nodeId}`;
  switch (cc.type) {
    case CCT.AddLearner:
      return isVoter || isLearner ? `node ${cc.nodeId} is already a member` : undefined;
    case CCT.AddVoter:
      return isLearner ? undefined : `node ${cc.nodeId} must be a learner before it is promoted`;
    case CCT.Remove:
      if (!isVoter && !isLearner) return `node ${cc.nodeId} is not a member`;
      return isVoter && conf.voters.length === 1 ? 'cannot remove the last voter' : undefined;
    default:
      return `unknown conf change type ${String(cc.type)}`;
  }
}

function byId(a: NodeId, b: NodeId): number {
  return a - b;
}
