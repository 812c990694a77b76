/** Create `path` and its missing ancestors as persistent, empty nodes (ZooKeeper's mkdirs). */
import { ErrorCode, isConclaveError } from '../../common/errors.js';
import type { Client } from '../client.js';
import { ancestorsAndSelf } from '../paths.js';

export async function ensurePath(client: Client, path: string): Promise<void> {
  for (const p of ancestorsAndSelf(path)) {
    try {
      await client.create(p);
    } catch (err: unknown) {
      if (!isConclaveError(err, ErrorCode.NODE_EXISTS)) throw err;
    }
  }
}
