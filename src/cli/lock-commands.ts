/**
 * `conclave lock NAME -- CMD ARGS...` runs a command while holding a lock (its fencing token in
 * CONCLAVE_LOCK_TOKEN); `conclave lock describe NAME` shows holders and waiters; `conclave elect
 * NAME VALUE` campaigns, says when elected, and leads until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { Client } from '../client/index.js';
import { lockPatiently } from '../client/recipes/lock.js';
import { type CommandContext, type CommandSpec, bad, intArg } from './command.js';
import { EXIT, decodeText, table } from './output.js';

async function connect(ctx: CommandContext): Promise<Client> {
  return Client.connect(ctx.clientOptions());
}

/** undefined: wait until granted. */
function waitMs(ctx: CommandContext): number | undefined {
  return ctx.values['wait-ms'] === undefined ? undefined : intArg(ctx.values['wait-ms'] as string, '--wait-ms');
}

export const lockCommands: readonly CommandSpec[] = [
  {
    name: 'lock describe',
    args: 'NAME',
    summary: "Show a lock's holders (with fencing tokens) and waiters.",
    positionals: [1, 1],
    run: async (ctx) => {
      const client = await connect(ctx);
      try {
        const d = await client.describeLock(ctx.args[0] as string);
        if (ctx.out.json) ctx.out.emit(d);
        else if (!d.exists) ctx.out.write(`${d.name}: free\n`);
        else {
          ctx.out.write(`${d.name}: ${d.kind}${d.kind === 'semaphore' ? ` of ${d.permits}` : ''}${d.blockedUntilMs ? `, lock-delay until ${new Date(d.blockedUntilMs).toISOString()}` : ''}\n`);
          const rows = [
            ...d.holders.map((h) => ['holder', `0x${h.sessionId.toString(16)}`, h.mode, h.token, new Date(h.sinceMs).toISOString(), decodeText(h.value) ?? '']),
            ...d.waiters.map((w, i) => [`waiter ${i + 1}`, `0x${w.sessionId.toString(16)}`, w.mode, '', new Date(w.sinceMs).toISOString(), '']),
          ];
          ctx.out.write(table(ctx.out, ['ROLE', 'SESSION', 'MODE', 'TOKEN', 'SINCE', 'VALUE'], rows));
        }
        return EXIT.OK;
      } finally {
        await client.close();
      }
    },
  },
  {
    name: 'lock',
    args: 'NAME -- COMMAND [ARGS...]',
    summary: 'Run COMMAND while holding the lock NAME (fencing token in CONCLAVE_LOCK_TOKEN); exits with its code. If the session is lost, the command is stopped (SIGTERM) and conclave exits 5.',
    options: {
      'wait-ms': { type: 'string', description: 'give up waiting for the lock after this long (default: wait until granted)' },
      shared: { type: 'boolean', description: 'take the shared (reader) side of an rwlock' },
      exclusive: { type: 'boolean', description: 'take the exclusive (writer) side of an rwlock' },
      permits: { type: 'string', description: 'a semaphore with this many permits' },
    },
    positionals: [2, Number.POSITIVE_INFINITY],
    run: async (ctx) => {
      const [name, cmd, ...args] = ctx.args as [string, string, ...string[]];
      if (ctx.values['shared'] === true && ctx.values['exclusive'] === true) throw bad('--shared or --exclusive, not both');
      const rw = ctx.values['shared'] === true || ctx.values['exclusive'] === true;
      const permits = ctx.values['permits'] === undefined ? undefined : intArg(ctx.values['permits'] as string, '--permits', 1);
      const client = await connect(ctx);
      try {
        const lock = await lockPatiently(client, name, {
          ...(rw ? { kind: 'rwlock' as const, mode: ctx.values['shared'] === true ? ('shared' as const) : ('exclusive' as const) } : {}),
          ...(permits !== undefined ? { kind: 'semaphore' as const, permits } : {}),
        }, waitMs(ctx));
        const child = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, CONCLAVE_LOCK_NAME: name, CONCLAVE_LOCK_TOKEN: String(lock.token) } });
        lock.signal.addEventListener('abort', () => child.kill('SIGTERM'));
        const stop = (): void => void child.kill('SIGTERM');
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const code = await new Promise<number>((resolve) => {
          child.once('error', (err) => {
            process.stderr.write(`conclave: cannot run ${cmd}: ${err.message}\n`);
            resolve(127);
          });
          child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 + 15 : 1)));
        });
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        if (lock.lost) {
          process.stderr.write(`conclave: SESSION_EXPIRED: lock ${name} was lost while ${cmd} ran\n`);
          return EXIT.UNAVAILABLE;
        }
        await lock.release();
        return code;
      } finally {
        await client.close();
      }
    },
  },
  {
    name: 'elect',
    args: 'NAME VALUE',
    summary: 'Campaign for leadership of NAME proclaiming VALUE; prints "elected TOKEN" and leads until Ctrl-C.',
    options: { 'wait-ms': { type: 'string', description: 'give up campaigning after this long (default: no limit)' } },
    positionals: [2, 2],
    run: async (ctx) => {
      const client = await connect(ctx);
      try {
        const election = client.election(ctx.args[0] as string);
        const wait = waitMs(ctx);
        const lock = await election.campaign(ctx.args[1] as string, wait === undefined ? {} : { timeoutMs: wait });
        if (ctx.out.json) ctx.out.emit({ name: ctx.args[0], elected: true, token: lock.token });
        else ctx.out.write(`elected ${lock.token}\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
          lock.signal.addEventListener('abort', () => resolve());
        });
        if (lock.lost) {
          process.stderr.write(`conclave: SESSION_EXPIRED: leadership of ${ctx.args[0]} was lost with the session\n`);
          return EXIT.UNAVAILABLE;
        }
        await election.resign();
        return EXIT.OK;
      } finally {
        await client.close();
      }
    },
  },
];
