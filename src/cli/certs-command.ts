/**
 * `conclave certs dev --out DIR [--members 3] [--hosts 127.0.0.1,localhost] [--days 365]`: a
 * development CA pair and certificates for a TLS cluster on one machine (see src/security/dev-certs.ts
 * and the README's Security section for the same with openssl by hand).
 */
import { resolve } from 'node:path';
import { DEV_CERT_DAYS_DEFAULT, createDevCertificates } from '../security/dev-certs.js';
import { type CommandSpec, bad, intArg } from './command.js';
import { EXIT } from './output.js';

export const certsCommands: readonly CommandSpec[] = [
  {
    name: 'certs dev',
    args: '--out DIR',
    summary: 'Write development TLS certificates for a cluster. A client CA and a peer CA, client-port and peer certificates for members 1..N, client certificates root and client (CN = the identity); needs the openssl command.',
    options: {
      out: { type: 'string', description: 'directory to write (created; refused if it holds a CA already)' },
      members: { type: 'string', description: 'members to make certificates for (default 3)' },
      hosts: { type: 'string', description: 'comma-separated names and IPs every member certificate carries, besides conclave-<id> (default 127.0.0.1,localhost)' },
      days: { type: 'string', description: `validity in days (default ${DEV_CERT_DAYS_DEFAULT})` },
    },
    positionals: [0, 0],
    run: async (ctx) => {
      const out = ctx.values['out'] as string | undefined;
      if (!out) throw bad('certs dev needs --out DIR');
      const members = ctx.values['members'] === undefined ? 3 : intArg(ctx.values['members'] as string, '--members', 1);
      if (members > 99) throw bad(`--members must be at most 99, got ${members}`);
      const days = ctx.values['days'] === undefined ? DEV_CERT_DAYS_DEFAULT : intArg(ctx.values['days'] as string, '--days', 1);
      const hosts = ((ctx.values['hosts'] as string | undefined) ?? '127.0.0.1,localhost').split(',').map((h) => h.trim()).filter((h) => h !== '');
      for (const h of hosts) if (!/^[A-Za-z0-9.:*-]+$/.test(h)) throw bad(`--hosts entry "${h}" is not a host name or IP address`);
      const certs = await createDevCertificates({ out: resolve(out), members, hosts, days });
      if (ctx.out.json) {
        ctx.out.emit(certs);
        return EXIT.OK;
      }
      const m1 = certs.members[0];
      const lines = [
        `wrote to ${certs.dir}:`,
        `  ca.crt, ca.key              client CA (signs the member-N and client certificates)`,
        `  peer-ca.crt, peer-ca.key    peer CA (signs the peer-N certificates; a peer certificate is a member)`,
        `  member-N.crt/.key           member N's client port (SANs: ${[...hosts, 'conclave-N'].join(', ')})`,
        `  peer-N.crt/.key             member N's peer port`,
        ...Object.keys(certs.clients).map((id) => `  ${`${id}.crt/.key`.padEnd(27)} client certificate, identity "${id}"`),
        '',
        'a member:',
        `  conclave server --tls-cert ${m1?.cert} --tls-key ${m1?.key} --tls-ca ${certs.ca} --tls-client-auth require \\`,
        `    --peer-tls-cert ${m1?.peerCert} --peer-tls-key ${m1?.peerKey} --peer-tls-ca ${certs.peerCa} ...`,
        'a client:',
        `  conclave status --tls-ca ${certs.ca} --tls-cert ${certs.clients['root']?.cert ?? '<cert>'} --tls-key ${certs.clients['root']?.key ?? '<key>'}`,
        '',
      ];
      ctx.out.write(lines.join('\n'));
      return EXIT.OK;
    },
  },
];
