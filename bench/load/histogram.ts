/** Exact latency percentiles: every sample is kept (8 bytes each, fine for a few million). */
export class Latencies {
  private samples = new Float64Array(1 << 16);
  private n = 0;
  private sorted = true;

  get count(): number {
    return this.n;
  }

  record(ms: number): void {
    if (this.n === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.n++] = ms;
    this.sorted = false;
  }

  /** Nearest-rank percentile, `p` in [0, 100]; NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    if (!this.sorted) {
      this.samples.subarray(0, this.n).sort();
      this.sorted = true;
    }
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    return this.samples[Math.min(rank, this.n) - 1]!;
  }
}
