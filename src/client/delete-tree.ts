/**
 * `delete(path, { recursive: true })`: children first, a page at a time, then the node itself (at
 * the expected version). Not atomic; concurrent creators can make it retry, a bounded number of times.
 */
import { ErrorCode, isConclaveError } from '../common/errors.js';
import type { Client } from './client.js';
import { joinPath } from './paths.js';
import type { DeleteResult } from './types.js';

const PAGE_NAMES = 200;
const ROUNDS_MAX = 10;

export async function deleteTree(client: Client, path: string, version: number | undefined, signal: AbortSignal | undefined): Promise<DeleteResult> {
  for (let round = 0; ; round++) {
    await deleteChildren(client, path, signal);
    try {
      return await client.delete(path, { ...(version === undefined ? {} : { version }), ...(signal ? { signal } : {}) });
    } catch (err: unknown) {
      // A child appeared meanwhile: go again.
      if (!isConclaveError(err, ErrorCode.NOT_EMPTY) || round + 1 >= ROUNDS_MAX) throw err;
    }
  }
}

async function deleteChildren(client: Client, path: string, signal: AbortSignal | undefined): Promise<void> {
  for (;;) {
    let names: string[];
    try {
      names = (await client.children(path, { limit: PAGE_NAMES, ...(signal ? { signal } : {}) })).names;
    } catch (err: unknown) {
      if (isConclaveError(err, ErrorCode.NO_NODE)) return;
      throw err;
    }
    if (names.length === 0) return;
    await Promise.all(
      names.map((name) =>
        deleteTree(client, joinPath(path, name), undefined, signal).catch((err: unknown) => {
          if (!isConclaveError(err, ErrorCode.NO_NODE)) throw err;
        }),
      ),
    );
  }
}
