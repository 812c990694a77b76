import { appendFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import type { Entry } from '../../src/raft/index.js';
import { Wal } from '../../src/storage/wal.js';
import { encodeRecords } from '../../src/storage/wal-codec.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conclave-wal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entries(from: number, to: number, term: number, tag = ''): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ term, index: i, type: 0, data: new TextEncoder().encode(`${tag}${term}:${i}`) });
  return out;
}

function describeEntries(es: readonly Entry[]): string[] {
  return es.map((e) => `${e.term}/${e.index}:${new TextDecoder().decode(e.data)}`);
}

async function segmentFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

describe('write-ahead log', () => {
  it('replays what was saved: entries, hard state', async () => {
    const { wal, contents } = await Wal.open(dir);
    expect(contents.entries).toEqual([]);
    await wal.save({ entries: entries(1, 3, 1), hardState: { term: 1, vote: 2, commit: 0 } });
    await wal.save({ entries: entries(4, 5, 1), hardState: { term: 1, vote: 2, commit: 3 } });
    await wal.close();
    const reopened = await Wal.open(dir);
    expect(describeEntries(reopened.contents.entries)).toEqual(describeEntries(entries(1, 5, 1)));
    expect(reopened.contents.hardState).toEqual({ term: 1, vote: 2, commit: 3 });
    await reopened.wal.close();
  });

  it('an empty entry and large data survive the round trip', async () => {
    const { wal } = await Wal.open(dir);
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    await wal.save({ entries: [{ term: 7, index: 1, type: 0, data: new Uint8Array(0) }, { term: 7, index: 2, type: 1, data: big }] });
    await wal.close();
    const { contents, wal: w2 } = await Wal.open(dir);
    expect(contents.entries[0]).toEqual({ term: 7, index: 1, type: 0, data: new Uint8Array(0) });
    expect(contents.entries[1]?.type).toBe(1);
    expect(Buffer.from(contents.entries[1]?.data ?? []).equals(Buffer.from(big))).toBe(true);
    await w2.close();
  });

  it('a later entry at a lower index replaces the conflicting suffix (a new leader overwrote it)', async () => {
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 5, 1) });
    await wal.save({ entries: entries(4, 6, 2) });
    await wal.close();
    const { contents, wal: w2 } = await Wal.open(dir);
    expect(describeEntries(contents.entries)).toEqual(describeEntries([...entries(1, 3, 1), ...entries(4, 6, 2)]));
    await w2.close();
  });

  it('a snapshot mark replaces the log before it', async () => {
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 5, 1) });
    await wal.save({ snapshot: { index: 10, term: 3 }, entries: entries(11, 12, 3), hardState: { term: 3, vote: 0, commit: 10 } });
    await wal.close();
    const { contents, wal: w2 } = await Wal.open(dir);
    expect(contents.snapshot).toEqual({ index: 10, term: 3 });
    expect(describeEntries(contents.entries)).toEqual(describeEntries(entries(11, 12, 3)));
    await w2.close();
  });

  it('one batch is one write and one fdatasync, however many entries it holds (group commit)', async () => {
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 500, 1), hardState: { term: 1, vote: 1, commit: 0 } });
    expect(wal.stats.syncs).toBe(1);
    await Promise.all([wal.save({ entries: entries(501, 600, 1) }), wal.save({ entries: entries(601, 700, 1) })]);
    expect(wal.stats.syncs).toBe(3);
    await wal.close();
    const { contents, wal: w2 } = await Wal.open(dir);
    expect(contents.entries.length).toBe(700);
    await w2.close();
  });

  it('a batch that only moves the commit index is written without an fdatasync', async () => {
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 2, 1), hardState: { term: 1, vote: 1, commit: 0 } });
    await wal.save({ entries: [], hardState: { term: 1, vote: 1, commit: 2 }, sync: false });
    expect(wal.stats).toMatchObject({ writes: 2, syncs: 1 });
    await wal.close();
    const { contents, wal: w2 } = await Wal.open(dir);
    expect(contents.hardState.commit).toBe(2);
    await w2.close();
  });

  describe('recovery', () => {
    async function writeThree(): Promise<string> {
      const { wal } = await Wal.open(dir);
      await wal.save({ entries: entries(1, 1, 1) });
      await wal.save({ entries: entries(2, 2, 1) });
      await wal.save({ entries: entries(3, 3, 1), hardState: { term: 1, vote: 1, commit: 2 } });
      await wal.close();
      return join(dir, (await segmentFiles())[0] as string);
    }

    it('truncates a torn tail (a frame cut short) with a warning, and keeps everything before it', async () => {
      const path = await writeThree();
      const frame = encodeRecords([{ kind: 'entry', entry: entries(4, 4, 1)[0] as Entry }]);
      await appendFile(path, frame.subarray(0, frame.length - 3));
      const sizeBefore = (await stat(path)).size;
      const warnings: string[] = [];
      const { wal, contents } = await Wal.open(dir, { onWarning: (m, d) => warnings.push(`${m} ${JSON.stringify(d)}`) });
      expect(describeEntries(contents.entries)).toEqual(describeEntries(entries(1, 3, 1)));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('torn tail');
      expect((await stat(path)).size).toBe(sizeBefore - (frame.length - 3));
      // The log goes on normally after the repair.
      await wal.save({ entries: entries(4, 4, 1) });
      await wal.close();
      const again = await Wal.open(dir);
      expect(again.contents.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
      await again.wal.close();
    });

    it('truncates a last record that fails its checksum', async () => {
      const path = await writeThree();
      const buf = await readFile(path);
      buf[buf.length - 2] = (buf[buf.length - 2] as number) ^ 0xff;
      await writeFile(path, buf);
      const warnings: string[] = [];
      const { wal, contents } = await Wal.open(dir, { onWarning: (m) => warnings.push(m) });
      // The last record was the hard state of the third batch; entry 3 and everything before survive.
      expect(contents.entries.map((e) => e.index)).toEqual([1, 2, 3]);
      expect(contents.hardState.commit).toBe(0);
      expect(warnings).toHaveLength(1);
      await wal.close();
    });

    it('treats a zero-filled tail as the end and removes it', async () => {
      const path = await writeThree();
      await appendFile(path, Buffer.alloc(4096));
      const { wal, contents } = await Wal.open(dir);
      expect(contents.entries.map((e) => e.index)).toEqual([1, 2, 3]);
      await wal.save({ entries: entries(4, 4, 1) });
      await wal.close();
      const again = await Wal.open(dir);
      expect(again.contents.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
      await again.wal.close();
    });

    it('refuses to start when a record before the tail is corrupted, naming the file and offset', async () => {
      const path = await writeThree();
      const buf = await readFile(path);
      buf[10] = (buf[10] as number) ^ 0x01; // inside the first record's payload
      await writeFile(path, buf);
      const err = await Wal.open(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConclaveError);
      expect((err as ConclaveError).code).toBe(ErrorCode.CORRUPTED);
      expect((err as ConclaveError).message).toContain(path);
      expect((err as ConclaveError).message).toContain('offset 0');
      // Nothing was truncated.
      expect((await readFile(path)).length).toBe(buf.length);
    });

    it('refuses to start when an older segment is damaged, even at its end', async () => {
      const { wal } = await Wal.open(dir, { segmentBytesMax: 64 });
      for (let i = 1; i <= 6; i++) await wal.save({ entries: entries(i, i, 1) });
      await wal.close();
      const files = await segmentFiles();
      expect(files.length).toBeGreaterThanOrEqual(2);
      const first = join(dir, files[0] as string);
      const buf = await readFile(first);
      await writeFile(first, buf.subarray(0, buf.length - 2));
      await expect(Wal.open(dir)).rejects.toMatchObject({ code: ErrorCode.CORRUPTED });
    });
  });

  it('rotates segments, deletes the ones a snapshot covers, and keeps the hard state', async () => {
    const { wal } = await Wal.open(dir, { segmentBytesMax: 200 });
    for (let i = 1; i <= 40; i++) await wal.save({ entries: entries(i, i, 2), hardState: i === 1 ? { term: 2, vote: 3, commit: 0 } : undefined });
    const before = await segmentFiles();
    expect(before.length).toBeGreaterThanOrEqual(4);
    const removed = await wal.releaseTo(30);
    expect(removed).toBeGreaterThan(0);
    const after = await segmentFiles();
    expect(after.length).toBe(before.length - removed);
    await wal.close();
    const { contents, wal: w2 } = await Wal.open(dir);
    // Hard state was written once, in the first segment, which is gone: the segment heads carry it.
    expect(contents.hardState).toEqual({ term: 2, vote: 3, commit: 0 });
    const first = contents.entries[0]?.index ?? 0;
    expect(first).toBeLessThanOrEqual(31);
    expect(contents.entries[contents.entries.length - 1]?.index).toBe(40);
    await w2.close();
  });
});
