/** Shared set-up for the client SDK tests: real server processes (test/integration/harness.ts) and clients closed after each test. */
import { Client } from '../../src/client/client.js';
import type { ClientOptions } from '../../src/client/types.js';
import { isConclaveError } from '../../src/common/errors.js';
import { Cluster } from '../integration/harness.js';

export { Cluster };

export function endpointsOf(cluster: Cluster): string[] {
  return cluster.servers.map((s) => `127.0.0.1:${s.member.clientPort}`);
}

/** Clients and clusters a test (or a file: `shared`) opens, closed after it. */
export class Fixture {
  readonly #clients: Client[] = [];
  readonly #clusters: Cluster[] = [];
  #shared: Cluster | undefined;

  async cluster(size: number, extra: readonly string[] = []): Promise<Cluster> {
    const c = await Cluster.start(size, extra);
    this.#clusters.push(c);
    await c.leader();
    return c;
  }

  /** One cluster for every test of a file (start it in beforeAll, stop it with `stopShared` in afterAll). */
  async startShared(size: number, extra: readonly string[] = []): Promise<void> {
    this.#shared = await Cluster.start(size, extra);
    await this.#shared.leader();
  }

  get shared(): Cluster {
    if (!this.#shared) throw new Error('no shared cluster');
    return this.#shared;
  }

  /** Restart members a test killed, so the next test finds the whole cluster with a leader. */
  async heal(): Promise<void> {
    const c = this.#shared;
    if (!c) return;
    await Promise.all(c.servers.filter((s) => !s.child || s.child.exitCode !== null || s.child.signalCode !== null).map((s) => s.start()));
    await c.leader();
  }

  async stopShared(): Promise<void> {
    await this.#shared?.stop();
    this.#shared = undefined;
  }

  async client(cluster: Cluster, opts: Partial<ClientOptions> = {}): Promise<Client> {
    const c = await Client.connect({ endpoints: endpointsOf(cluster), sessionTimeoutMs: 5000, ...opts });
    this.#clients.push(c);
    return c;
  }

  async cleanUp(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map((c) => c.close()));
    await Promise.all(this.#clusters.splice(0).map((c) => c.stop()));
  }
}

/** The error a promise rejected with (fails the test if it resolved). */
export async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

/** The typed code a promise rejected with. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await failure(p);
  if (!isConclaveError(err)) throw new Error(`expected a ConclaveError, got ${String(err)}`);
  return err.code;
}

export const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? new Uint8Array()).toString();

/** Kill the member with this id (SIGKILL). */
export async function kill(cluster: Cluster, id: number): Promise<void> {
  await cluster.servers.find((s) => s.member.id === id)?.kill('SIGKILL');
}

/** Every node under `root` (itself included) → its data as text, read through `client`. */
export async function readTree(client: Client, root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (path: string): Promise<void> => {
    let got;
    try {
      got = await client.get(path);
    } catch (err: unknown) {
      if (isConclaveError(err, 'NO_NODE')) return;
      throw err;
    }
    out.set(path, text(got.data));
    for await (const name of client.allChildren(path)) await walk(path === '/' ? `/${name}` : `${path}/${name}`);
  };
  await walk(root);
  return new Map([...out].sort());
}
