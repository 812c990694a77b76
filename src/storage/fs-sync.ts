/**
 * Durability helpers: a file's data is durable once fsync'd, and a new or renamed file's name only
 * once its directory is fsync'd too.
 */
import { open, unlink } from 'node:fs/promises';

/** fsync a file or a directory by path. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export const fsyncDirectory = fsyncPath;

/** Remove a file; one that is already gone is fine. */
export async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
