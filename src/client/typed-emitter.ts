/** A tiny typed event emitter (a listener that throws is reported as an uncaught exception, as EventEmitter would). */
type Listener<A extends unknown[]> = (...args: A) => void;

export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #listeners = new Map<keyof E, Set<(...args: unknown[]) => void>>();

  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as unknown as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const wrapped = (...args: E[K]): void => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    this.#listeners.get(event)?.delete(listener as unknown as (...args: unknown[]) => void);
    return this;
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const l of [...(this.#listeners.get(event) ?? [])]) {
      try {
        l(...args);
      } catch (err: unknown) {
        // Our own state stays consistent; the listener's bug still surfaces.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
