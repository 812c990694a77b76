/**
 * A Conclave member's longest event-loop stall, from `conclave_event_loop_delay_max_seconds` on its
 * metrics port. The gauge resets on each scrape: scrape once before a workload, once after.
 */
export async function scrapeStallMs(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const m = /^conclave_event_loop_delay_max_seconds\s+(\S+)$/m.exec(await res.text());
  if (!m) throw new Error(`no conclave_event_loop_delay_max_seconds on port ${port}`);
  return Number(m[1]) * 1000;
}

/** Longest stall per member since the previous scrape (NaN for a member that did not answer). */
export const scrapeStalls = (ports: number[]): Promise<number[]> => Promise.all(ports.map((p) => scrapeStallMs(p).catch(() => NaN)));

/** A counter summed over the members (e.g. conclave_slow_watchers_cut_total); NaN if one did not answer. */
export async function scrapeCounter(ports: number[], name: string): Promise<number> {
  const values = await Promise.all(
    ports.map(async (p) => {
      const text = await (await fetch(`http://127.0.0.1:${p}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      return Number(new RegExp(`^${name}\\s+(\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    }),
  ).catch(() => [NaN]);
  return values.reduce((a, b) => a + b, 0);
}
