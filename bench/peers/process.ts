/** Spawning and stopping peer server processes so none outlives the benchmark. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts `cmd args` with stdout and stderr appended to `logFile`. Through setpriv the child gets
 * PR_SET_PDEATHSIG=SIGKILL and then execs, so its pid is the server's own and it dies with us even if
 * we are SIGKILLed; the exit hook covers normal exits.
 */
export function spawnMember(cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): ChildProcess {
  installExitHook();
  const fd = openSync(logFile, 'a');
  const [file, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once every child has exited. */
export async function stopMembers(children: ChildProcess[], graceMs = 10_000): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Fails fast with the member's log path if a member dies while we wait for readiness. */
export function exitedEarly(children: ChildProcess[], logFiles: string[]): string | undefined {
  const i = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
  if (i < 0) return undefined;
  const c = children[i]!;
  return `member ${i + 1} exited (${c.signalCode ?? c.exitCode}); see ${logFiles[i]}`;
}

/** Polls `probe` until it returns a value or `timeoutMs` passes; `check` can abort early. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  check: () => string | undefined = () => undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const fatal = check();
    if (fatal) throw new Error(`${what}: ${fatal}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms (${String(last ?? 'no answer')})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}
