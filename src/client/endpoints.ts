/** The members a client may connect to: the configured endpoints plus those learned from MemberList. */
export class Endpoints {
  readonly #all: string[] = [];
  #next = 0;

  constructor(initial: readonly string[]) {
    for (const a of initial) this.add(a);
  }

  add(address: string): void {
    if (address && !this.#all.includes(address)) this.#all.push(address);
  }

  /** Where to try next: the hint (a leader's address) if given, else the next one in turn. */
  pick(hint?: string): string {
    if (hint) {
      this.add(hint);
      return hint;
    }
    const a = this.#all[this.#next % this.#all.length] as string;
    this.#next++;
    return a;
  }

  get size(): number {
    return this.#all.length;
  }

  list(): readonly string[] {
    return this.#all;
  }
}
