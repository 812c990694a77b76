/** Bytes on disk of directory trees: allocated blocks (what `du` shows) and apparent sizes. */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskUsage {
  allocated: number;
  apparent: number;
}

export async function diskUsage(paths: string[]): Promise<DiskUsage> {
  const total: DiskUsage = { allocated: 0, apparent: 0 };
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    total.allocated += st.blocks * 512;
    total.apparent += st.size;
    if (st.isDirectory()) for (const name of await readdir(p)) await walk(join(p, name));
  };
  for (const p of paths) await walk(p);
  return total;
}
