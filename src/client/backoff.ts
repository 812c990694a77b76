/** Exponential backoff with jitter for reconnects and retries; its timers never keep the process alive. */
export const BACKOFF_BASE_MS = 50;
export const BACKOFF_CAP_MS = 2000;

/** The delay before retry number `attempt` (0-based): uniformly in [half, all] of min(cap, base·2^attempt). */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Resolves after `ms` (unref'd timer); resolves early when `cancel` fires. */
export function delay(ms: number, cancel?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (cancel?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      cancel?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    cancel?.addEventListener('abort', done, { once: true });
  });
}
