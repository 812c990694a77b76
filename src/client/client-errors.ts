/** The SDK's own failures, as the repo's typed `ConclaveError`. */
import { ConclaveError, ErrorCode } from '../common/errors.js';

export function unavailable(message: string, details: Record<string, unknown> = {}): ConclaveError {
  return new ConclaveError(ErrorCode.UNAVAILABLE, message, details);
}

export function closedError(): ConclaveError {
  return unavailable('the client is closed');
}

export function lostError(sessionId: number): ConclaveError {
  return new ConclaveError(ErrorCode.SESSION_EXPIRED, `session ${sessionId} expired; this client is unusable, make a new one`);
}

/** What an abort rejects with: the signal's reason (an AbortError DOMException unless the caller gave one). */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
