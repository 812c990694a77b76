/**
 * `conclave status`, `member list|add|promote|remove`, `leader transfer` and `snapshot
 * save|inspect`: operating a cluster.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { isConclaveError } from '../common/errors.js';
import type { MemberInfo } from './admin.js';
import { type CommandContext, type CommandSpec, bad, intArg } from './command.js';
import { EXIT, table } from './output.js';
import { parseMemberList } from '../server/config.js';
import { formatSnapshotReport, inspectSnapshot } from './snapshot-inspect.js';
import { restoreSnapshot } from './snapshot-restore.js';

async function printMembers(ctx: CommandContext, res: { leader: number; members: readonly MemberInfo[] }): Promise<number> {
  if (ctx.out.json) ctx.out.emit(res);
  else {
    const rows = res.members.map((m) => [m.id, m.learner ? 'learner' : 'voter', m.id === res.leader ? 'yes' : '', m.clientAddress, m.peerAddress]);
    ctx.out.write(table(ctx.out, ['ID', 'KIND', 'LEADER', 'CLIENT', 'PEER'], rows));
  }
  return EXIT.OK;
}

function hostPort(v: string | undefined, what: string): string {
  if (!v || !/^[^\s:/]+:\d{1,5}$/.test(v)) throw bad(`${what} must be host:port, got "${v ?? ''}"`);
  return v;
}

export const clusterCommands: readonly CommandSpec[] = [
  {
    name: 'status',
    args: '',
    summary: 'Every member: role, term, leader, commit and applied index, lag behind the leader, health.',
    positionals: [0, 0],
    run: async (ctx) => {
      const admin = ctx.admin();
      const { members } = await admin.members();
      const rows = await Promise.all(
        members.map(async (m) => {
          try {
            const [s, healthy] = await Promise.all([admin.status(m.clientAddress), admin.healthy(m.clientAddress)]);
            return { id: m.id, address: m.clientAddress, reachable: true, role: s.role, term: s.term, leader: s.leader, commit: s.commit, applied: s.applied, healthy };
          } catch (err: unknown) {
            return { id: m.id, address: m.clientAddress, reachable: false, error: isConclaveError(err) ? err.message : String(err) };
          }
        }),
      );
      const leaderCommit = Math.max(0, ...rows.map((r) => ('role' in r && r.role === 'leader' ? r.commit : 0)));
      const withLag = rows.map((r) => ('applied' in r ? { ...r, lag: Math.max(0, leaderCommit - (r.applied ?? 0)) } : r));
      if (ctx.out.json) ctx.out.emit({ members: withLag });
      else {
        ctx.out.write(
          table(
            ctx.out,
            ['ID', 'ADDRESS', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'LAG', 'HEALTH'],
            withLag.map((r) =>
              'role' in r && r.role !== undefined
                ? [r.id, r.address, r.role, r.term ?? '', r.leader ?? '', r.commit ?? '', r.applied ?? '', 'lag' in r ? r.lag : '', r.healthy ? 'serving' : 'not serving']
                : [r.id, r.address, 'unreachable', '', '', '', '', '', 'down'],
            ),
          ),
        );
      }
      return withLag.every((r) => r.reachable) ? EXIT.OK : EXIT.UNAVAILABLE;
    },
  },
  {
    name: 'member list',
    args: '',
    summary: 'The members with their addresses, voters and learners.',
    positionals: [0, 0],
    run: async (ctx) => printMembers(ctx, await ctx.admin().members()),
  },
  {
    name: 'member add',
    args: 'ID PEER_ADDRESS CLIENT_ADDRESS',
    summary: 'Add a member as a learner; then start it with `conclave server --join` and promote it once caught up.',
    positionals: [3, 3],
    run: async (ctx) => {
      const [id, peer, client] = ctx.args;
      const res = await ctx.admin().onLeader('MemberAdd', { id: intArg(id, 'ID', 1), peerAddress: hostPort(peer, 'PEER_ADDRESS'), clientAddress: hostPort(client, 'CLIENT_ADDRESS') });
      return printMembers(ctx, res as unknown as { leader: number; members: MemberInfo[] });
    },
  },
  {
    name: 'member promote',
    args: 'ID',
    summary: 'Make a caught-up learner a voter (refused while it lags).',
    positionals: [1, 1],
    run: async (ctx) => printMembers(ctx, (await ctx.admin().onLeader('MemberPromote', { id: intArg(ctx.args[0], 'ID', 1) })) as unknown as { leader: number; members: MemberInfo[] }),
  },
  {
    name: 'member remove',
    args: 'ID',
    summary: 'Remove a member; the removed replica stops itself.',
    positionals: [1, 1],
    run: async (ctx) => printMembers(ctx, (await ctx.admin().onLeader('MemberRemove', { id: intArg(ctx.args[0], 'ID', 1) })) as unknown as { leader: number; members: MemberInfo[] }),
  },
  {
    name: 'leader transfer',
    args: 'ID',
    summary: 'Hand the leadership to voter ID (for rolling restarts); returns once it leads.',
    positionals: [1, 1],
    run: async (ctx) => {
      const res = await ctx.admin().onLeader('TransferLeadership', { to: intArg(ctx.args[0], 'ID', 1) });
      if (ctx.out.json) ctx.out.emit(res);
      else ctx.out.write(`leader is now ${String(res['leader'])}\n`);
      return EXIT.OK;
    },
  },
  {
    name: 'snapshot save',
    args: 'FILE',
    summary: 'Download a fresh snapshot of a member (a SQLite file) for a backup.',
    positionals: [1, 1],
    run: async (ctx) => {
      const file = ctx.args[0] as string;
      const partial = `${file}.part`;
      const sink = createWriteStream(partial);
      let written = 0;
      let index = 0;
      try {
        await ctx.admin().snapshot((chunk) => {
          index = chunk.index;
          written += chunk.data.length;
          sink.write(chunk.data);
          ctx.out.progress(`snapshot at zxid ${index}: ${written} of ${chunk.totalBytes} bytes`);
        });
        sink.end();
        await once(sink, 'finish');
        await rename(partial, file);
      } catch (err: unknown) {
        sink.destroy();
        await rm(partial, { force: true });
        throw err;
      }
      ctx.out.progress('');
      if (ctx.out.json) ctx.out.emit({ file, index, bytes: written });
      else ctx.out.write(`saved snapshot at zxid ${index} to ${file} (${written} bytes)\n`);
      return EXIT.OK;
    },
  },
  {
    name: 'snapshot restore',
    args: 'FILE',
    summary: "Seed a new member's empty data directory from a backup; restore every member of the new cluster from the same file and --members, then start them.",
    options: {
      data: { type: 'string', description: 'the new, empty data directory' },
      members: { type: 'string', description: 'the new cluster: id=peerHost:port/clientHost:port,… (as for `conclave server`)' },
    },
    positionals: [1, 1],
    run: async (ctx) => {
      const data = ctx.values['data'];
      const members = ctx.values['members'];
      if (typeof data !== 'string' || data === '') throw bad('--data is required: the new data directory');
      if (typeof members !== 'string' || members === '') throw bad('--members is required: the new cluster');
      const report = await restoreSnapshot(ctx.args[0] as string, data, parseMemberList(members));
      if (ctx.out.json) ctx.out.emit(report);
      else ctx.out.write(`restored zxid ${report.index} (term ${report.term}) into ${report.dataDir} for members ${report.voters.join(', ')}: ${Object.entries(report.rows).map(([t, n]) => `${n} ${t}`).join(', ')}\n`);
      return EXIT.OK;
    },
  },
  {
    name: 'snapshot inspect',
    args: 'FILE',
    summary: "Show a snapshot file's header (index, term, membership) and tables.",
    positionals: [1, 1],
    run: async (ctx) => {
      const report = await inspectSnapshot(ctx.args[0] as string);
      if (ctx.out.json) ctx.out.emit(report);
      else ctx.out.write(formatSnapshotReport(report));
      return EXIT.OK;
    },
  },
];
