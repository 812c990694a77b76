/**
 * `FenceGuard`: the check a resource guarded by a lock runs before acting on a request that
 * carries a fencing token. A token passes if it is not older than any token already accepted
 * (Chubby's sequencer rule) and the cluster says it is still a current holder's (`validateFence`).
 * Checks are serialized, so "check, then act" inside `admit` is atomic with respect to other tokens.
 */
import type { Client } from '../client.js';

export class FenceGuard {
  readonly #client: Client;
  readonly name: string;
  #highest = 0;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(client: Client, lockName: string) {
    this.#client = client;
    this.name = lockName;
  }

  /** The highest token accepted so far. */
  get highest(): number {
    return this.#highest;
  }

  /**
   * Run `act` if `token` passes, with no other token checked meanwhile; resolves to whether it ran.
   * A failed check (an unreachable cluster included) refuses.
   */
  admit(token: number, act: () => void | Promise<void> = () => undefined): Promise<boolean> {
    const run = this.#chain.then(async () => {
      if (!Number.isSafeInteger(token) || token < this.#highest) return false;
      const valid = await this.#client.validateFence(this.name, token).catch(() => false);
      if (!valid) return false;
      this.#highest = token;
      await act();
      return true;
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }
}
