/**
 * Invariant checks that stay on in production: a replica that finds its own state impossible
 * crashes rather than corrupting the replicated log. Expected failures are `ConclaveError`s instead.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'function' ? message() : message);
}
