/**
 * One `conclave server` process of a fault run: started, SIGKILLed, SIGSTOPped and SIGCONTed by the
 * nemesis. Its stderr (pino JSON lines) goes to a log file in the run's directory, and the last
 * few KiB stay in memory for failure messages (a long run's logs would not fit).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type WriteStream, createWriteStream, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { until } from '../support/until.js';

/** The built CLI, found from the repo root whether this file runs from test/ (vitest) or dist/test/ (the fault CLI). */
const CLI = join(repoRoot(import.meta.dirname), 'dist/src/cli/main.js');

function repoRoot(from: string): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${from}`);
}
const LOG_TAIL_CHARS = 16_384;
const START_TIMEOUT_MS = 30_000;

export interface MemberSlot {
  readonly id: number;
  readonly clientPort: number;
  readonly peerPort: number;
}

export class MemberProcess {
  readonly slot: MemberSlot;
  #child: ChildProcess | undefined;
  #tail = '';
  #logFile: WriteStream | undefined;
  #paused = false;

  constructor(slot: MemberSlot) {
    this.slot = slot;
  }

  get id(): number {
    return this.slot.id;
  }

  get clientAddress(): string {
    return `127.0.0.1:${this.slot.clientPort}`;
  }

  get peerAddress(): string {
    return `127.0.0.1:${this.slot.peerPort}`;
  }

  /** Started and not exited (a paused process counts as running). */
  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  get paused(): boolean {
    return this.#paused && this.running;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last lines this process logged (its whole log is in the run directory). */
  get logTail(): string {
    return this.#tail;
  }

  /** Spawn with `args` (after `server`) and `env` added, and wait for its "started" log line. */
  async start(args: readonly string[], env: Readonly<Record<string, string>>, logPath: string): Promise<void> {
    if (this.running) throw new Error(`member ${this.id} is already running`);
    this.#tail = '';
    this.#paused = false;
    this.#logFile?.end();
    const logFile = createWriteStream(logPath, { flags: 'a' });
    this.#logFile = logFile;
    const child = spawn(process.execPath, [CLI, 'server', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    this.#child = child;
    let started = false;
    child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString('utf8');
      logFile.write(text);
      this.#tail = (this.#tail + text).slice(-LOG_TAIL_CHARS);
      if (!started && this.#tail.includes('conclave replica started')) started = true;
    });
    child.once('exit', () => logFile.end());
    await until(
      `member ${this.id} to start`,
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`member ${this.id} exited while starting: ${this.#tail}`);
        return started;
      },
      START_TIMEOUT_MS,
    );
  }

  /** Send `signal` and wait for the exit (SIGCONT first, so a paused process can die). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    if (this.#paused) child.kill('SIGCONT');
    this.#paused = false;
    await exited;
  }

  /** Resolves when the process exits on its own (a removed member stops itself), or at once if it is not running. */
  exited(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
  }

  pause(): void {
    if (!this.running) return;
    this.#child?.kill('SIGSTOP');
    this.#paused = true;
  }

  resume(): void {
    if (!this.running) return;
    this.#child?.kill('SIGCONT');
    this.#paused = false;
  }

  describe(): string {
    const c = this.#child;
    if (!c) return 'never started';
    if (c.exitCode !== null) return `exited ${c.exitCode}`;
    if (c.signalCode !== null) return `killed by ${c.signalCode}`;
    return `pid ${c.pid}${this.#paused ? ' (paused)' : ''}`;
  }
}
