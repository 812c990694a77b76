/**
 * A small Dockerfile reader for the image tests: instructions (continuation lines joined, comments
 * dropped) grouped by stage, and the parts of the runtime stage a container would see: ENV,
 * ENTRYPOINT + CMD, USER, VOLUME, EXPOSE, HEALTHCHECK.
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

export function readInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i;
    let line = lines[i] as string;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i] as string;
      if (/^\s*#/.test(next)) continue;
      line = `${line.replace(/\\\s*$/, '')} ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${first + 1} is not an instruction: ${line}`);
    out.push({ keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: first + 1 });
  }
  return out;
}

export function readStages(text: string): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of readInstructions(text)) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [k, v] = ins.args.split(/=(.*)/s, 2) as [string, string | undefined];
      args.set(k, v ?? '');
    } else if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`bad FROM at line ${ins.line}`);
      stages.push({ from: (m[1] as string).replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? ''), name: m[2], instructions: [] });
    } else {
      const stage = stages[stages.length - 1];
      if (!stage) throw new Error(`${ins.keyword} before FROM at line ${ins.line}`);
      stage.instructions.push(ins);
    }
  }
  return { args, stages };
}

/** ENV key=value pairs (quotes removed), in order. */
export function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) env.set(m[1] as string, m[3] ?? (m[2] as string));
  }
  return env;
}

/** The JSON (exec) form of ENTRYPOINT, CMD or HEALTHCHECK CMD; throws on the shell form. */
export function execForm(args: string, what: string): string[] {
  const json = args.replace(/^(--\S+\s+)*(CMD\s+)?/, '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`${what} must use the exec (JSON array) form, got: ${args}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`${what} must be an array of strings`);
  return parsed as string[];
}

export function last(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).pop();
}

export function readDockerfile(path: string): { args: Map<string, string>; stages: Stage[] } {
  return readStages(readFileSync(path, 'utf8'));
}
