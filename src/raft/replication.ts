/**
 * The leader's replication engine: what to send each follower (appends, heartbeats, snapshot
 * chunks) and how to read their answers. Flow control follows etcd: probe one message at a time
 * until the follower's log position is known, then stream within the in-flight window.
 */
import { crc32c } from '../common/checksum.js';
import { ErrorCode, isConclaveError } from '../common/errors.js';
import { type Progress, ProgressState } from './progress.js';
import type { Raft } from './raft.js';
import { type Entry, type Message, MessageType as MT, type NodeId } from './types.js';

export class Replicator {
  readonly #raft: Raft;

  constructor(raft: Raft) {
    this.#raft = raft;
  }

  broadcastAppend(): void {
    for (const [id, pr] of this.#raft.progress) if (id !== this.#raft.id) this.sendAppend(id, pr, true);
  }

  broadcastHeartbeat(round: number): void {
    const r = this.#raft;
    for (const [id, pr] of r.progress) {
      if (id === r.id) continue;
      // Never tell a follower to commit beyond what it is known to hold.
      r.send({ type: MT.Heartbeat, from: r.id, to: id, term: r.term, commit: Math.min(pr.match, r.log.committed), context: round });
    }
  }

  /** Send the follower what it lacks from `pr.next`; false when paused or (unless forced) nothing to send. */
  sendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    const r = this.#raft;
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = r.log.term(prevIndex);
    let entries: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        entries = r.log.entriesFrom(pr.next, r.cfg.limits.appendMessageBytesMax);
      } catch (err: unknown) {
        if (!isConclaveError(err, ErrorCode.COMPACTED)) throw err;
      }
    }
    if (prevTerm === undefined || entries === undefined) return this.#startSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const last = entries.length > 0 ? (entries[entries.length - 1] as Entry).index : prevIndex;
    r.send({ type: MT.Append, from: r.id, to, term: r.term, index: prevIndex, logTerm: prevTerm, entries, commit: r.log.committed });
    pr.sentEntries(last, entries.length);
    return true;
  }

  #startSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.#raft.log.snapshot();
    pr.becomeSnapshot(snap, crc32c(snap.data));
    this.#sendSnapshotChunk(to, pr);
    return true;
  }

  #sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const r = this.#raft;
    const snap = pr.pendingSnapshot;
    if (!snap) return;
    const offset = Math.min(pr.snapshotOffset, snap.data.length);
    const data = snap.data.subarray(offset, offset + r.cfg.limits.snapshotChunkBytesMax);
    r.send({
      type: MT.Snapshot,
      from: r.id,
      to,
      term: r.term,
      snapshot: { meta: snap.meta, offset, totalBytes: snap.data.length, checksum: pr.snapshotChecksum, data },
    });
  }

  handleAppendResponse(m: Message, pr: Progress): void {
    const r = this.#raft;
    if (m.index === undefined) return;
    if (m.reject) {
      let hint = m.rejectHint ?? 0;
      // Skip every index whose term cannot match the follower's (fast back-off).
      if ((m.logTerm ?? 0) > 0) hint = r.log.findConflictByTerm(hint, m.logTerm ?? 0);
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from, pr, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    const updated = pr.maybeUpdate(m.index);
    if (pr.state === ProgressState.Snapshot) {
      // The follower holds the snapshot's index (installed, or already had it): stream from there.
      if (pr.match < (pr.pendingSnapshot?.meta.index ?? 0)) return;
      pr.becomeReplicate();
    } else if (!updated) {
      if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);
      return;
    } else if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else pr.inflights.freeLE(m.index);

    if (r.maybeCommit()) r.appendPending = true;
    // It was paused (a probe outstanding) and missed the last broadcast: bring it the commit index.
    else if (wasPaused) this.sendAppend(m.from, pr, true);
    // Keep streaming what is left while the window allows.
    while (this.sendAppend(m.from, pr, false)) {
      /* sent one more */
    }
    if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) r.sendTimeoutNow(m.from);
  }

  handleHeartbeatResponse(m: Message, pr: Progress): void {
    const r = this.#raft;
    switch (pr.state) {
      case ProgressState.Snapshot:
        // Resend the chunk the follower is waiting for, in case it was lost.
        this.#sendSnapshotChunk(m.from, pr);
        return;
      case ProgressState.Probe:
        pr.probeSent = false;
        this.sendAppend(m.from, pr, true);
        return;
      case ProgressState.Replicate:
        if (pr.match < r.log.lastIndex()) {
          // No progress across two heartbeat answers: appends were lost; probe again.
          if (pr.match === pr.matchAtLastHeartbeat) {
            pr.becomeProbe();
            this.sendAppend(m.from, pr, true);
          } else pr.matchAtLastHeartbeat = pr.match;
        }
        return;
    }
  }

  handleSnapshotResponse(m: Message, pr: Progress): void {
    const snap = pr.pendingSnapshot;
    if (pr.state !== ProgressState.Snapshot || !snap || m.index !== snap.meta.index) return;
    const offset = m.reject ? 0 : (m.offset ?? 0);
    // The follower's offset is authoritative; an equal one is a duplicate answer.
    if (offset === pr.snapshotOffset && !m.reject) return;
    pr.snapshotOffset = offset;
    if (offset < snap.data.length || snap.data.length === 0) this.#sendSnapshotChunk(m.from, pr);
  }
}
