/**
 * The write-ahead log (model: etcd's wal/): append-only segment files of CRC-framed records.
 * Every `save` is one write and one fdatasync (group commit: the caller passes a whole Ready);
 * a batch that only records a new commit index is written without waiting for the disk;
 * the I/O runs on libuv's thread pool, so the event loop never waits on the disk.
 *
 * Segments are named `<sequence>-<first index>.wal` (16 hex digits each) and each starts with the
 * hard state current at its creation, so older segments can be deleted once a snapshot covers them.
 *
 * Recovery replays every segment. A torn tail — the last frame cut short or failing its checksum
 * with nothing valid after it, as a crash mid-write leaves — is truncated with a warning. Anything
 * wrong before the tail is corruption of acknowledged history: the log refuses to open and names
 * the file and offset.
 */
import { type FileHandle, mkdir, open, readFile, readdir, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { type Entry, type HardState, emptyHardState } from '../raft/index.js';
import { type WalRecord, encodeRecords, readFrame } from './wal-codec.js';
import { fsyncDirectory } from './fs-sync.js';

export interface WalOptions {
  /** Rotate to a new segment once the current one reaches this size. */
  readonly segmentBytesMax?: number;
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
}

/** What replay found. */
export interface WalContents {
  readonly hardState: HardState;
  /** The newest snapshot the log was replaced by (a follower installing a leader's snapshot), if any. */
  readonly snapshot: { readonly index: number; readonly term: number } | undefined;
  /** Entries after the snapshot, contiguous, conflicts already resolved. */
  readonly entries: Entry[];
}

export interface WalBatch {
  readonly hardState?: HardState | undefined;
  readonly entries: readonly Entry[];
  /** The log is replaced by a snapshot at (index, term); written before the batch's entries. */
  readonly snapshot?: { readonly index: number; readonly term: number } | undefined;
  /**
   * fdatasync after the write (default). A batch that only moves the commit index need not wait
   * for the disk: losing it loses nothing (the commit index is re-learned from the leader).
   */
  readonly sync?: boolean;
}

interface Segment {
  readonly seq: number;
  readonly firstIndex: number;
  readonly name: string;
}

/** Small enough that a restart replays little beyond the newest snapshot (segments it covers are deleted). */
export const DEFAULT_SEGMENT_BYTES_MAX = 16 * 1024 * 1024;
const SEGMENT_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

function segmentName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

export class Wal {
  readonly dir: string;
  readonly #segmentBytesMax: number;
  #segments: Segment[];
  #file: FileHandle;
  #size: number;
  #hardState: HardState;
  #lastIndex: number;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  readonly stats = { writes: 0, syncs: 0, bytes: 0, rotations: 0 };

  private constructor(dir: string, opts: WalOptions, segments: Segment[], file: FileHandle, size: number, hardState: HardState, lastIndex: number) {
    this.dir = dir;
    this.#segmentBytesMax = opts.segmentBytesMax ?? DEFAULT_SEGMENT_BYTES_MAX;
    this.#segments = segments;
    this.#file = file;
    this.#size = size;
    this.#hardState = hardState;
    this.#lastIndex = lastIndex;
  }

  /** Open (creating if needed) the log in `dir` and replay it. */
  static async open(dir: string, opts: WalOptions = {}): Promise<{ wal: Wal; contents: WalContents }> {
    await mkdir(dir, { recursive: true });
    const segments = await listSegments(dir);
    if (segments.length === 0) {
      const first: Segment = { seq: 0, firstIndex: 1, name: segmentName(0, 1) };
      const file = await open(join(dir, first.name), 'wx');
      await fsyncDirectory(dir);
      const contents: WalContents = { hardState: emptyHardState, snapshot: undefined, entries: [] };
      return { wal: new Wal(dir, opts, [first], file, 0, emptyHardState, 0), contents };
    }
    const replay = new Replay();
    let lastSize = 0;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i] as Segment;
      const path = join(dir, seg.name);
      const buf = await readFile(path);
      const validEnd = replay.segment(buf, path, i === segments.length - 1);
      if (validEnd < buf.length) {
        opts.onWarning?.('truncating torn tail of the write-ahead log', { file: path, offset: validEnd, bytesDropped: buf.length - validEnd });
        await truncate(path, validEnd);
      }
      lastSize = validEnd;
    }
    const last = segments[segments.length - 1] as Segment;
    const file = await open(join(dir, last.name), 'r+');
    if (lastSize > 0) await file.datasync();
    const contents = replay.contents();
    const lastIndex = contents.entries.length > 0 ? (contents.entries[contents.entries.length - 1] as Entry).index : (contents.snapshot?.index ?? 0);
    return { wal: new Wal(dir, opts, segments, file, lastSize, contents.hardState, lastIndex), contents };
  }

  /** Append a batch durably: one write, one fdatasync. Calls are serialized in order. */
  save(batch: WalBatch): Promise<void> {
    const run = this.#chain.then(() => this.#save(batch));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #save(batch: WalBatch): Promise<void> {
    if (this.#closed) throw new ConclaveError(ErrorCode.UNAVAILABLE, 'the write-ahead log is closed');
    const records: WalRecord[] = [];
    if (batch.snapshot) records.push({ kind: 'snapshot', index: batch.snapshot.index, term: batch.snapshot.term });
    for (const entry of batch.entries) records.push({ kind: 'entry', entry });
    if (batch.hardState) records.push({ kind: 'hard-state', hardState: batch.hardState });
    if (records.length === 0) return;
    if (this.#size >= this.#segmentBytesMax) await this.#rotate();
    const buf = encodeRecords(records);
    await this.#file.write(buf, 0, buf.length, this.#size);
    if (batch.sync !== false) {
      await this.#file.datasync();
      this.stats.syncs++;
    }
    this.#size += buf.length;
    this.stats.writes++;
    this.stats.bytes += buf.length;
    if (batch.hardState) this.#hardState = batch.hardState;
    if (batch.snapshot) this.#lastIndex = batch.snapshot.index;
    const lastEntry = batch.entries[batch.entries.length - 1];
    if (lastEntry) this.#lastIndex = lastEntry.index;
  }

  async #rotate(): Promise<void> {
    const prev = this.#segments[this.#segments.length - 1] as Segment;
    const seg: Segment = { seq: prev.seq + 1, firstIndex: this.#lastIndex + 1, name: segmentName(prev.seq + 1, this.#lastIndex + 1) };
    const file = await open(join(this.dir, seg.name), 'wx');
    // Each segment begins with the current hard state, so deleting older ones never loses it.
    const head = encodeRecords([{ kind: 'hard-state', hardState: this.#hardState }]);
    await file.write(head, 0, head.length, 0);
    await file.datasync();
    await fsyncDirectory(this.dir);
    await this.#file.close();
    this.#file = file;
    this.#size = head.length;
    this.#segments.push(seg);
    this.stats.rotations++;
  }

  /**
   * Delete segments whose entries are all at or below `index` (covered by a durable snapshot).
   * The current segment is never deleted. Returns how many were removed.
   */
  releaseTo(index: number): Promise<number> {
    const run = this.#chain.then(async () => {
      let removable = 0;
      while (removable < this.#segments.length - 1 && (this.#segments[removable + 1] as Segment).firstIndex <= index + 1) removable++;
      if (removable === 0) return 0;
      const doomed = this.#segments.slice(0, removable);
      this.#segments = this.#segments.slice(removable);
      for (const seg of doomed) await rm(join(this.dir, seg.name), { force: true });
      await fsyncDirectory(this.dir);
      return removable;
    });
    this.#chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  segmentNames(): string[] {
    return this.#segments.map((s) => s.name);
  }

  async close(): Promise<void> {
    await this.#chain;
    if (this.#closed) return;
    this.#closed = true;
    await this.#file.close();
  }
}

async function listSegments(dir: string): Promise<Segment[]> {
  const names = await readdir(dir);
  const segments: Segment[] = [];
  for (const name of names) {
    const m = SEGMENT_PATTERN.exec(name);
    if (m) segments.push({ seq: parseInt(m[1] as string, 16), firstIndex: parseInt(m[2] as string, 16), name });
  }
  segments.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < segments.length; i++) {
    if ((segments[i] as Segment).seq !== (segments[i - 1] as Segment).seq + 1) {
      throw new ConclaveError(ErrorCode.CORRUPTED, `write-ahead log segment missing before ${(segments[i] as Segment).name} in ${dir}`);
    }
  }
  return segments;
}

/** Folds records into the log's state, resolving conflicting suffixes as they were written. */
class Replay {
  #hardState: HardState = emptyHardState;
  #snapshot: { index: number; term: number } | undefined;
  #entries: Entry[] = [];

  /** Replay one segment; returns the offset where valid data ends (the file length unless torn). */
  segment(buf: Uint8Array, path: string, isLast: boolean): number {
    let at = 0;
    for (;;) {
      const f = readFrame(buf, at);
      // A zero-filled tail (preallocated or never written) ends the log; it is truncated away.
      if (f.kind === 'end') return at;
      if (f.kind === 'record') {
        this.#apply(f.record, path, at);
        at = f.next;
        continue;
      }
      // A damaged frame is a torn tail only in the last segment and only if nothing valid follows it.
      const followedByValid = f.kind === 'bad' && readFrame(buf, f.next).kind === 'record';
      if (!isLast || followedByValid) {
        throw new ConclaveError(ErrorCode.CORRUPTED, `write-ahead log corrupted in ${path} at offset ${at}: ${f.reason}`, { file: path, offset: at });
      }
      return at;
    }
  }

  #apply(r: WalRecord, path: string, offset: number): void {
    switch (r.kind) {
      case 'hard-state':
        this.#hardState = r.hardState;
        return;
      case 'snapshot':
        this.#snapshot = { index: r.index, term: r.term };
        this.#entries = [];
        return;
      case 'entry': {
        const e = r.entry;
        const base = this.#snapshot?.index ?? 0;
        if (e.index <= base) return;
        const first = this.#entries[0];
        const expectedNext = first ? first.index + this.#entries.length : base + 1;
        if (e.index > expectedNext) {
          if (this.#entries.length === 0) {
            // Entries after a compaction point we have no mark for: the snapshot file covers the gap.
            this.#entries.push(e);
            return;
          }
          throw new ConclaveError(ErrorCode.CORRUPTED, `write-ahead log gap in ${path} at offset ${offset}: entry ${e.index} after ${expectedNext - 1}`, {
            file: path,
            offset,
          });
        }
        // An entry at or below our last index replaces the conflicting suffix (a new leader's overwrite).
        if (first && e.index < expectedNext) this.#entries.length = e.index - first.index;
        this.#entries.push(e);
        return;
      }
    }
  }

  contents(): WalContents {
    return { hardState: this.#hardState, snapshot: this.#snapshot, entries: this.#entries };
  }
}
