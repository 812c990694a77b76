#!/usr/bin/env node
// The functional core must stay pure: no clocks, timers, randomness, I/O or async in src/raft/
// (and src/state/ once it exists). Time and randomness are injected; effects leave as data.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

// The project root, or another tree given as the first argument (the test plants violations in one).
const root = process.argv[2] ?? new URL('..', import.meta.url).pathname;
const PURE_DIRS = ['src/common', 'src/raft', 'src/state', 'src/watches'];
const BANNED = [
  [/\bDate\.now\b|\bnew Date\b/, 'wall clock (Date)'],
  [/\bMath\.random\b/, 'Math.random (inject an Rng)'],
  [/\bsetTimeout\b|\bsetInterval\b|\bsetImmediate\b|\bqueueMicrotask\b/, 'timers'],
  [/\bperformance\.now\b|\bprocess\.hrtime\b/, 'monotonic clock'],
  [/from\s+['"](node:)?(fs|fs\/promises|net|dgram|http|https|http2|child_process|worker_threads)['"]/, 'I/O module import'],
  [/require\(\s*['"](node:)?(fs|net|http|child_process)['"]\s*\)/, 'I/O module require'],
  [/\basync\s+(function\b|\(|[A-Za-z_$][\w$]*\s*\()|\bawait\b/, 'async code'],
  [/\bprocess\.(env|argv|exit)\b/, 'process globals'],
];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith('.ts')) yield path;
  }
}

let problems = 0;
let checked = 0;
for (const dir of PURE_DIRS) {
  const abs = join(root, dir);
  if (!existsSync(abs)) continue;
  for (const file of files(abs)) {
    checked++;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
      for (const [pattern, what] of BANNED) {
        if (pattern.test(code)) {
          problems++;
          console.error(`${relative(root, file)}:${i + 1}: ${what} is not allowed in the pure core: ${line.trim()}`);
        }
      }
    });
  }
}
if (problems > 0) {
  console.error(`purity check: ${problems} problem(s)`);
  process.exit(1);
}
console.log(`purity check: ${checked} files in ${PURE_DIRS.join(', ')} are free of clocks, timers, randomness, I/O and async`);
