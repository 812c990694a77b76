/** node-zookeeper-client as promises: a session, and a callback call turned into a promise. */
import zookeeper from 'node-zookeeper-client';
import type { Client } from 'node-zookeeper-client';

export const { Exception } = zookeeper;
type Callback<T> = (error: Error | InstanceType<typeof Exception> | null, result: T) => void;

/** One session with one of `endpoints` (`host:port`; the client picks one). */
export async function connectZooKeeper(endpoints: string[], timeoutMs = 10_000): Promise<Client> {
  const client = zookeeper.createClient(endpoints.join(','), { sessionTimeout: 30_000 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error(`zookeeper: no session with ${endpoints.join(',')} after ${timeoutMs} ms`));
    }, timeoutMs);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  return client;
}

export function call<T>(f: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => f((err, result) => (err ? reject(err) : resolve(result))));
}

export const code = (err: unknown) => (err instanceof Exception ? err.getCode() : undefined);
