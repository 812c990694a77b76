/** Durability helpers: a new or renamed file is only durable once its directory is fsync'd too. */
import { open } from 'node:fs/promises';

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
