/** The README's examples run against a real server and do what they say. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../integration/harness.js';

let cluster: Cluster;
let endpoints: string;

function example(name: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = join(import.meta.dirname, `../../dist/examples/${name}.js`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, '--endpoints', endpoints, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  cluster = await Cluster.start(1);
  await cluster.leader();
  endpoints = `127.0.0.1:${cluster.servers[0]?.member.clientPort}`;
});

afterAll(async () => {
  await cluster?.stop();
});

describe('examples', () => {
  it('config-watcher mirrors the config and reports each change', async () => {
    const r = await example('config-watcher', ['--demo', '--changes', '4']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('config: {}');
    expect(lines.slice(1).map((l) => l.replace(/ \(zxid \d+\)/, ''))).toEqual([
      'created /config/shop/color = blue -> config: {"color":"blue"}',
      'changed /config/shop/color = red -> config: {"color":"red"}',
      'created /config/shop/currency = EUR -> config: {"color":"red","currency":"EUR"}',
      'deleted /config/shop/color -> config: {"currency":"EUR"}',
    ]);
  });

  it('service-registry lists live instances and sees one leave', async () => {
    const r = await example('service-registry', ['--instances', '3']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('registered: host-1, host-2, host-3\nchildren /services/api: now host-1, host-2\n');
  });

  it('worker-pool loses no increment under contention', async () => {
    const r = await example('worker-pool', ['--workers', '4', '--increments', '25']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('counter = 100 (expected 100)');
    expect(r.stdout.match(/^worker \d done/gm)).toHaveLength(4);
  });
});
