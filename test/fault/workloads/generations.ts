/**
 * Keys used for a while, then retired: workers lease the current generation for each operation;
 * after `opsPerGeneration` leases the next generation starts, and an old one is handed back for
 * cleanup once no operation on it is still in flight. Long runs keep each key's history short
 * (cheap to check) and the servers' state small.
 */
export interface Lease {
  readonly generation: number;
  /** The operation using the generation has completed. */
  done(): void;
}

export class Generations {
  readonly #opsPerGeneration: number;
  readonly #inFlight = new Map<number, number>();
  readonly #retired: number[] = [];
  #current = 0;
  #ops = 0;

  constructor(opsPerGeneration: number) {
    this.#opsPerGeneration = opsPerGeneration;
  }

  get current(): number {
    return this.#current;
  }

  /** Use the current generation for one operation. */
  lease(): Lease {
    const generation = this.#current;
    this.#inFlight.set(generation, (this.#inFlight.get(generation) ?? 0) + 1);
    if (++this.#ops >= this.#opsPerGeneration) {
      this.#ops = 0;
      this.#retired.push(this.#current++);
    }
    let released = false;
    return {
      generation,
      done: () => {
        if (released) return;
        released = true;
        this.#inFlight.set(generation, (this.#inFlight.get(generation) ?? 1) - 1);
      },
    };
  }

  /** Retired generations with nothing in flight, now the caller's to clean up (removed from the list). */
  takeIdle(): number[] {
    const idle = this.#retired.filter((g) => (this.#inFlight.get(g) ?? 0) === 0);
    for (const g of idle) {
      this.#retired.splice(this.#retired.indexOf(g), 1);
      this.#inFlight.delete(g);
    }
    return idle;
  }

  /** Hand a generation back (its cleanup failed; try again later). */
  giveBack(generation: number): void {
    this.#retired.push(generation);
  }
}
