/** What the report says about the machine. */
import { readFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  kernel: string;
}

export function machine(): Machine {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return { nproc: availableParallelism(), cpuModel: model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, kernel: release() };
}
