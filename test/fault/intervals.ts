/**
 * A set of time intervals (fault windows, leader changes), merged so that "is t inside one?" and
 * "when did the last one before t end?" are binary searches: long runs have thousands of intervals
 * and a million operations.
 */
export class Intervals {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  constructor(intervals: Iterable<readonly [number, number]>) {
    const sorted = [...intervals].filter(([a, b]) => b >= a).sort((x, y) => x[0] - y[0]);
    for (const [from, to] of sorted) {
      const last = this.#ends.length - 1;
      if (last >= 0 && from <= (this.#ends[last] as number)) this.#ends[last] = Math.max(this.#ends[last] as number, to);
      else {
        this.#starts.push(from);
        this.#ends.push(to);
      }
    }
  }

  /** The index of the last merged interval starting at or before t (-1: none). */
  #lastStartingBy(t: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#starts[mid] as number) <= t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  contains(t: number): boolean {
    const i = this.#lastStartingBy(t);
    return i >= 0 && t <= (this.#ends[i] as number);
  }

  /** When the last interval wholly before t ended (undefined: none did, or t is inside one). */
  lastEndBefore(t: number): number | undefined {
    const i = this.#lastStartingBy(t);
    if (i < 0) return undefined;
    if (t <= (this.#ends[i] as number)) return undefined;
    return this.#ends[i];
  }
}
