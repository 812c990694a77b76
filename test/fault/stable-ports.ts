/**
 * Ports for member slots that stay free while a member is down. A port from `listen(0)` comes from
 * the kernel's ephemeral range, which also hands out the local ports of outgoing connections: a
 * member killed for a second (or the spare slot, unbound for minutes) could find its port taken
 * by some connection and fail to restart. Ports below that range are never picked implicitly, so
 * we choose there, at random, and check each is free now.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST_PORT = 10_000;
const ATTEMPTS = 200;

/** The low end of Linux's ephemeral range (32768 when it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST_PORT + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `count` distinct free ports below the ephemeral range. */
export async function stablePorts(count: number, random: () => number): Promise<number[]> {
  const high = ephemeralLow();
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt >= ATTEMPTS * count) throw new Error(`no ${count} free ports found in ${LOWEST_PORT}..${high - 1}`);
    const port = LOWEST_PORT + Math.floor(random() * (high - LOWEST_PORT));
    if (!ports.includes(port) && (await isFree(port))) ports.push(port);
  }
  return ports;
}
