/**
 * `conclave snapshot restore FILE --data DIR --members …`: seed a member's empty data directory from
 * a backup, for a new cluster (etcdutl's `snapshot restore`). Every member of the new cluster is
 * restored from the same file with the same `--members`, then started normally.
 *
 * The new data directory holds one snapshot: the backup's tables (the tree, sessions, ...) as they
 * were, except the member list, which becomes `--members` (voters only), and a hard state at the
 * backup's term with everything committed. Sessions of the backup come back too; their clients are
 * gone, so they expire one timeout after the new cluster elects a leader, taking their ephemerals.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { MemberAddress } from '../server/config.js';
import { STATE_MACHINE_NAME, STATE_VERSION } from '../state/index.js';

const STATE_VERSION_OLDEST_READABLE = 3;
import { DiskStorage } from '../storage/disk-storage.js';
import { SnapshotStore } from '../storage/sqlite-snapshot.js';

export interface RestoreReport {
  readonly dataDir: string;
  readonly index: number;
  readonly term: number;
  readonly voters: readonly number[];
  readonly rows: Readonly<Record<string, number>>;
}

export async function restoreSnapshot(file: string, dataDir: string, members: ReadonlyMap<number, MemberAddress>): Promise<RestoreReport> {
  if (members.size === 0) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'restore needs --members: the new cluster');
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `${dataDir} is not empty; restore only into a new data directory`);
  }
  const source = new SnapshotStore(dirname(file));
  const header = await source.readHeader(file);
  // v3 lacks only the acls and quotas tables (v4), which a replica restores as empty.
  if (header.stateMachine !== STATE_MACHINE_NAME || header.stateVersion < STATE_VERSION_OLDEST_READABLE || header.stateVersion > STATE_VERSION) {
    throw new ConclaveError(
      ErrorCode.BAD_ARGUMENTS,
      `${file} holds ${header.stateMachine} v${header.stateVersion}; this build restores ${STATE_MACHINE_NAME} v${STATE_VERSION_OLDEST_READABLE} to v${STATE_VERSION}`,
    );
  }
  const tables = await source.readTables(file);
  const voters = [...members.keys()].sort((a, b) => a - b);
  const target = new SnapshotStore(join(dataDir, 'snap'));
  await target.open();
  const rows: Record<string, number> = {};
  try {
    const writer = target.beginWrite({ ...header, conf: { voters, learners: [] } }, tables);
    try {
      for (const t of tables) {
        rows[t.name] = 0;
        if (t.name === 'members') {
          const list = voters.map((id) => [id, members.get(id)?.peer ?? '', members.get(id)?.client ?? ''] as const);
          await writer.write('members', list);
          rows[t.name] = list.length;
          continue;
        }
        for await (const batch of source.readRows(file, t.name)) {
          await writer.write(t.name, batch);
          rows[t.name] += batch.length;
        }
      }
      await writer.commit();
    } catch (err: unknown) {
      await writer.abort();
      throw err;
    }
  } finally {
    await target.close();
  }
  // Everything in the snapshot is committed, at the backup's term: the new cluster's terms follow it.
  const storage = await DiskStorage.open(dataDir);
  try {
    await storage.wal.save({ entries: [], hardState: { term: header.term, vote: 0, commit: header.index } });
  } finally {
    await storage.close();
  }
  return { dataDir, index: header.index, term: header.term, voters, rows };
}
