/**
 * The znode commands: `get`, `set`, `create`, `rm`, `ls`, `tree`, `stat` and `watch`, through the
 * client SDK (which finds the leader and fails over). A value argument is UTF-8 text; `--file`
 * reads it from a file (`-` for stdin) instead.
 */
import { readFile } from 'node:fs/promises';
import { Client } from '../client/index.js';
import type { Stat, WatchEvent } from '../client/types.js';
import { type CommandContext, type CommandSpec, bad, intArg } from './command.js';
import { EXIT, decodeText, table } from './output.js';

async function withClient<T>(ctx: CommandContext, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await Client.connect(ctx.clientOptions());
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

async function valueOf(ctx: CommandContext, positional: string | undefined): Promise<Uint8Array> {
  const file = ctx.values['file'];
  if (typeof file === 'string') {
    if (positional !== undefined) throw bad('give the value or --file, not both');
    return new Uint8Array(file === '-' ? await readStdin() : await readFile(file));
  }
  return new TextEncoder().encode(positional ?? '');
}

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function statRows(stat: Stat): [string, string | number][] {
  return [
    ['czxid', stat.czxid],
    ['mzxid', stat.mzxid],
    ['pzxid', stat.pzxid],
    ['ctime', `${new Date(stat.ctime).toISOString()} (${stat.ctime})`],
    ['mtime', `${new Date(stat.mtime).toISOString()} (${stat.mtime})`],
    ['version', stat.version],
    ['cversion', stat.cversion],
    ['ephemeralOwner', stat.ephemeralOwner === 0 ? '0' : `0x${stat.ephemeralOwner.toString(16)}`],
    ['dataLength', stat.dataLength],
    ['numChildren', stat.numChildren],
  ];
}

const VALUE_FILE = { type: 'string', description: 'read the value from this file (- for stdin)' } as const;
const SERIALIZABLE = { type: 'boolean', description: 'read locally from the member (may be stale)' } as const;

function consistency(ctx: CommandContext): 'serializable' | 'linearizable' {
  return ctx.values['serializable'] === true ? 'serializable' : 'linearizable';
}

function joinChild(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

function eventLine(e: WatchEvent): string {
  const data = e.data ? ` ${decodeText(e.data) ?? `<${e.data.length} bytes>`}` : '';
  return `${e.zxid} ${e.type.toUpperCase()} ${e.path}${data}\n`;
}

export const treeCommands: readonly CommandSpec[] = [
  {
    name: 'get',
    args: 'PATH',
    summary: "Print a node's data (raw bytes on stdout; --json adds the stat).",
    options: { serializable: SERIALIZABLE },
    positionals: [1, 1],
    run: (ctx) =>
      withClient(ctx, async (c) => {
        const r = await c.get(ctx.args[0] as string, { consistency: consistency(ctx) });
        if (ctx.out.json) ctx.out.emit({ path: ctx.args[0], data: r.data, stat: r.stat, zxid: r.zxid });
        else process.stdout.write(r.data.length > 0 && decodeText(r.data) !== undefined && ctx.out.tty ? `${decodeText(r.data)}\n` : r.data);
        return EXIT.OK;
      }),
  },
  {
    name: 'set',
    args: 'PATH [VALUE]',
    summary: "Replace a node's data.",
    options: { file: VALUE_FILE, version: { type: 'string', description: 'only if the node is at this version' } },
    positionals: [1, 2],
    run: async (ctx) => {
      const data = await valueOf(ctx, ctx.args[1]);
      const version = ctx.values['version'] === undefined ? undefined : intArg(ctx.values['version'] as string, '--version');
      return withClient(ctx, async (c) => {
        const r = await c.set(ctx.args[0] as string, data, version === undefined ? {} : { version });
        if (ctx.out.json) ctx.out.emit({ path: ctx.args[0], stat: r.stat, zxid: r.zxid });
        else ctx.out.write(`${ctx.args[0]} version ${r.stat.version} (zxid ${r.zxid})\n`);
        return EXIT.OK;
      });
    },
  },
  {
    name: 'create',
    args: 'PATH [VALUE]',
    summary: 'Create a node. An --ephemeral node lives as long as this command: it holds the session until Ctrl-C.',
    options: {
      file: VALUE_FILE,
      ephemeral: { type: 'boolean', short: 'e', description: 'deleted when this command ends (held until Ctrl-C)' },
      sequential: { type: 'boolean', short: 's', description: 'append a 10-digit counter to the name' },
      container: { type: 'boolean', description: 'removed once its last child goes' },
      ttl: { type: 'string', description: 'milliseconds: removed when unchanged and childless this long' },
      parents: { type: 'boolean', short: 'p', description: 'create missing parents (persistent)' },
    },
    positionals: [1, 2],
    run: async (ctx) => {
      const data = await valueOf(ctx, ctx.args[1]);
      const ttlMs = ctx.values['ttl'] === undefined ? undefined : intArg(ctx.values['ttl'] as string, '--ttl', 1);
      const flags = {
        ...(ctx.values['ephemeral'] === true ? { ephemeral: true } : {}),
        ...(ctx.values['sequential'] === true ? { sequential: true } : {}),
        ...(ctx.values['container'] === true ? { container: true } : {}),
        ...(ttlMs !== undefined ? { ttlMs } : {}),
      };
      return withClient(ctx, async (c) => {
        const path = ctx.args[0] as string;
        if (ctx.values['parents'] === true) {
          const parts = path.split('/').filter((p) => p !== '');
          for (let i = 1; i < parts.length; i++) {
            const parent = `/${parts.slice(0, i).join('/')}`;
            if (!(await c.exists(parent)).stat) await c.create(parent).catch((err: unknown) => (isExists(err) ? undefined : Promise.reject(err)));
          }
        }
        const r = await c.create(path, data, flags);
        if (ctx.out.json) ctx.out.emit({ path: r.path, stat: r.stat, zxid: r.zxid });
        else ctx.out.write(`${r.path}\n`);
        if (flags.ephemeral) await untilInterrupted();
        return EXIT.OK;
      });
    },
  },
  {
    name: 'rm',
    args: 'PATH',
    summary: 'Delete a node (-r: and everything under it).',
    options: { recursive: { type: 'boolean', short: 'r', description: 'delete the whole subtree' }, version: { type: 'string', description: 'only if the node is at this version' } },
    positionals: [1, 1],
    run: async (ctx) => {
      const version = ctx.values['version'] === undefined ? undefined : intArg(ctx.values['version'] as string, '--version');
      return withClient(ctx, async (c) => {
        const r = await c.delete(ctx.args[0] as string, { ...(version === undefined ? {} : { version }), ...(ctx.values['recursive'] === true ? { recursive: true } : {}) });
        if (ctx.out.json) ctx.out.emit({ path: ctx.args[0], zxid: r.zxid });
        return EXIT.OK;
      });
    },
  },
  {
    name: 'ls',
    args: 'PATH',
    summary: "List a node's children (all pages), one per line.",
    options: { serializable: SERIALIZABLE },
    positionals: [1, 1],
    run: (ctx) =>
      withClient(ctx, async (c) => {
        const names: string[] = [];
        for await (const name of c.allChildren(ctx.args[0] as string, { consistency: consistency(ctx) })) {
          if (ctx.out.json) names.push(name);
          else ctx.out.write(`${name}\n`);
        }
        if (ctx.out.json) ctx.out.emit({ path: ctx.args[0], children: names });
        return EXIT.OK;
      }),
  },
  {
    name: 'tree',
    args: '[PATH]',
    summary: 'Print the subtree under PATH (default /), indented.',
    options: { depth: { type: 'string', description: 'levels below PATH to show (default all)' } },
    positionals: [0, 1],
    run: async (ctx) => {
      const root = ctx.args[0] ?? '/';
      const maxDepth = ctx.values['depth'] === undefined ? Number.POSITIVE_INFINITY : intArg(ctx.values['depth'] as string, '--depth');
      return withClient(ctx, async (c) => {
        const nodes: { path: string; depth: number }[] = [];
        const walk = async (path: string, depth: number): Promise<void> => {
          nodes.push({ path, depth });
          if (!ctx.out.json) ctx.out.write(`${'  '.repeat(depth)}${depth === 0 ? path : path.slice(path.lastIndexOf('/') + 1)}\n`);
          if (depth >= maxDepth) return;
          for await (const name of c.allChildren(path)) await walk(joinChild(path, name), depth + 1);
        };
        await c.exists(root).then((r) => (r.stat ? undefined : c.get(root))); // NO_NODE for a missing root
        await walk(root, 0);
        if (ctx.out.json) ctx.out.emit({ root, nodes: nodes.map((n) => n.path) });
        return EXIT.OK;
      });
    },
  },
  {
    name: 'stat',
    args: 'PATH',
    summary: "Show a node's stat (zxids, times, versions, owner, sizes).",
    options: { serializable: SERIALIZABLE },
    positionals: [1, 1],
    run: (ctx) =>
      withClient(ctx, async (c) => {
        const r = await c.get(ctx.args[0] as string, { consistency: consistency(ctx) });
        if (ctx.out.json) ctx.out.emit({ path: ctx.args[0], stat: r.stat, zxid: r.zxid });
        else ctx.out.write(table(ctx.out, ['FIELD', 'VALUE'], statRows(r.stat)));
        return EXIT.OK;
      }),
  },
  {
    name: 'watch',
    args: 'PATH',
    summary: 'Print changes of PATH as they come (one line each: zxid TYPE path [data]) until Ctrl-C or --count.',
    options: {
      recursive: { type: 'boolean', short: 'r', description: 'the whole subtree' },
      from: { type: 'string', description: 'first replay every change after this zxid' },
      data: { type: 'boolean', description: 'include the new data of created/changed nodes' },
      count: { type: 'string', description: 'stop after this many events' },
    },
    positionals: [1, 1],
    run: async (ctx) => {
      const fromZxid = ctx.values['from'] === undefined ? undefined : intArg(ctx.values['from'] as string, '--from');
      const count = ctx.values['count'] === undefined ? Number.POSITIVE_INFINITY : intArg(ctx.values['count'] as string, '--count', 1);
      return withClient(ctx, async (c) => {
        const abort = new AbortController();
        const stop = (): void => abort.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        let seen = 0;
        try {
          const stream = c.watch(ctx.args[0] as string, {
            ...(ctx.values['recursive'] === true ? { recursive: true } : {}),
            ...(fromZxid !== undefined ? { fromZxid } : {}),
            ...(ctx.values['data'] === true ? { withData: true } : {}),
            signal: abort.signal,
          });
          for await (const e of stream) {
            if (ctx.out.json) ctx.out.emit(e);
            else ctx.out.write(eventLine(e));
            if (++seen >= count) break;
          }
        } catch (err: unknown) {
          if (!abort.signal.aborted) throw err;
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
        return EXIT.OK;
      });
    },
  },
];

function isExists(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'NODE_EXISTS';
}

function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
