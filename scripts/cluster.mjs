#!/usr/bin/env node
// `npm run cluster [-- --nodes 5] [-- --tls]`: a local cluster of real `conclave server` processes on
// 127.0.0.1 (client ports 4181.., peer ports 4191.., metrics 4281..), data in ./data/cluster/<id>, logs in
// ./data/cluster/<id>.log. Ctrl-C stops them all. `--tls`: client and peer TLS, client certificates
// required, with development certificates made once in ./data/cluster/certs (`conclave certs dev`).
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const i = args.indexOf('--nodes');
const nodes = i >= 0 ? Number(args[i + 1]) : 3;
if (![1, 3, 5, 7].includes(nodes)) {
  console.error(`cluster: --nodes must be 1, 3, 5 or 7 (an odd number keeps a clear majority), got ${args[i + 1]}`);
  process.exit(2);
}
const tls = args.includes('--tls');
const root = join(process.cwd(), 'data', 'cluster');
mkdirSync(root, { recursive: true });
const members = Array.from({ length: nodes }, (_, k) => ({ id: k + 1, client: 4181 + k, peer: 4191 + k, metrics: 4281 + k }));
const membersArg = members.map((m) => `${m.id}=127.0.0.1:${m.peer}/127.0.0.1:${m.client}`).join(',');
const cli = new URL('../dist/src/cli/main.js', import.meta.url).pathname;
const certs = join(root, 'certs');
if (tls && !existsSync(join(certs, 'ca.crt'))) {
  // For up to 7 members, so a later --nodes 5 or 7 finds its certificates.
  try {
    execFileSync(process.execPath, [cli, 'certs', 'dev', '--out', certs, '--members', '7', '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    process.exit(2); // conclave certs dev said why on stderr
  }
  console.log(`development certificates written to ${certs}`);
}
const tlsArgs = (id) =>
  tls
    ? ['--tls-cert', join(certs, `member-${id}.crt`), '--tls-key', join(certs, `member-${id}.key`), '--tls-ca', join(certs, 'ca.crt'), '--tls-client-auth', 'require',
       '--peer-tls-cert', join(certs, `peer-${id}.crt`), '--peer-tls-key', join(certs, `peer-${id}.key`), '--peer-tls-ca', join(certs, 'peer-ca.crt')]
    : [];
// The members get their TLS files from the flags above only: CONCLAVE_TLS_* exported in this shell
// for the CLI are also server options, and must not turn TLS on (or point it elsewhere) here.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^CONCLAVE_(PEER_)?TLS_/.test(k)));
const children = members.map((m) => {
  const log = createWriteStream(join(root, `${m.id}.log`), { flags: 'a' });
  const child = spawn(process.execPath, [cli, 'server', '--id', String(m.id), '--data', join(root, String(m.id)), '--listen', `127.0.0.1:${m.client}`, '--peer-listen', `127.0.0.1:${m.peer}`, '--metrics-listen', `127.0.0.1:${m.metrics}`, '--members', membersArg, ...tlsArgs(m.id)], { stdio: ['ignore', 'ignore', 'pipe'], env });
  child.stderr.pipe(log);
  child.on('exit', (code, signal) => console.log(`member ${m.id} exited (${signal ?? code})`));
  console.log(`member ${m.id}: client 127.0.0.1:${m.client}, peer 127.0.0.1:${m.peer}, metrics http://127.0.0.1:${m.metrics}/metrics, log ${join(root, `${m.id}.log`)}`);
  return child;
});
console.log(`${nodes} members running${tls ? ' with TLS (client certificates required)' : ''}; Ctrl-C stops them all.`);
if (tls) {
  const endpoints = members.map((m) => `127.0.0.1:${m.client}`).join(',');
  console.log(`the CLI as identity root:\n  npx conclave status --endpoints ${endpoints} --tls-ca ${join(certs, 'ca.crt')} --tls-cert ${join(certs, 'root.crt')} --tls-key ${join(certs, 'root.key')}`);
  console.log(`or, in your shell:\n  export CONCLAVE_ENDPOINTS=${endpoints} CONCLAVE_TLS_CA=${join(certs, 'ca.crt')} CONCLAVE_TLS_CERT=${join(certs, 'root.crt')} CONCLAVE_TLS_KEY=${join(certs, 'root.key')}`);
}
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
