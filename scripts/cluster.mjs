#!/usr/bin/env node
// `npm run cluster [-- --nodes 5]`: a local cluster of real `conclave server` processes on
// 127.0.0.1 (client ports 4181.., peer ports 4191.., metrics 4281..), data in ./data/cluster/<id>, logs in
// ./data/cluster/<id>.log. Ctrl-C stops them all.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const i = args.indexOf('--nodes');
const nodes = i >= 0 ? Number(args[i + 1]) : 3;
if (![1, 3, 5, 7].includes(nodes)) {
  console.error(`cluster: --nodes must be 1, 3, 5 or 7 (an odd number keeps a clear majority), got ${args[i + 1]}`);
  process.exit(2);
}
const root = join(process.cwd(), 'data', 'cluster');
mkdirSync(root, { recursive: true });
const members = Array.from({ length: nodes }, (_, k) => ({ id: k + 1, client: 4181 + k, peer: 4191 + k, metrics: 4281 + k }));
const membersArg = members.map((m) => `${m.id}=127.0.0.1:${m.peer}/127.0.0.1:${m.client}`).join(',');
const cli = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
const children = members.map((m) => {
  const log = createWriteStream(join(root, `${m.id}.log`), { flags: 'a' });
  const child = spawn(process.execPath, [cli, 'server', '--id', String(m.id), '--data', join(root, String(m.id)), '--listen', `127.0.0.1:${m.client}`, '--peer-listen', `127.0.0.1:${m.peer}`, '--metrics-listen', `127.0.0.1:${m.metrics}`, '--members', membersArg], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.pipe(log);
  child.on('exit', (code, signal) => console.log(`member ${m.id} exited (${signal ?? code})`));
  console.log(`member ${m.id}: client 127.0.0.1:${m.client}, peer 127.0.0.1:${m.peer}, metrics http://127.0.0.1:${m.metrics}/metrics, log ${join(root, `${m.id}.log`)}`);
  return child;
});
console.log(`${nodes} members running; Ctrl-C stops them all.`);
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
