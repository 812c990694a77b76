/**
 * What the Docker image runs, without a Docker engine: the runtime stage of the Dockerfile read as
 * data (entry point, environment, volume, health check), and a copy of the image's /app laid out
 * the way the Dockerfile lays it out (compiled JS from dist/src, proto/, package.json, and only
 * the production packages of package-lock.json), so a process started from it fails if the
 * server needs anything the image leaves out.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Stage, envOf, execForm, last, readDockerfile } from './dockerfile.js';

export const REPO = join(import.meta.dirname, '../..');

export interface ImageSpec {
  readonly stages: Stage[];
  readonly runtime: Stage;
  readonly workdir: string;
  readonly env: Map<string, string>;
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly user: string;
  readonly volumes: string[];
  readonly exposed: number[];
  readonly healthcheck: string[];
  /** `ln -s TARGET LINK` in the runtime stage: LINK → TARGET (the `conclave` command). */
  readonly links: Map<string, string>;
}

export function imageSpec(): ImageSpec {
  const { stages } = readDockerfile(join(REPO, 'Dockerfile'));
  const runtime = stages[stages.length - 1];
  if (!runtime) throw new Error('no stage in the Dockerfile');
  const need = (kw: string): string => {
    const ins = last(runtime, kw);
    if (!ins) throw new Error(`the runtime stage has no ${kw}`);
    return ins.args;
  };
  const links = new Map<string, string>();
  for (const run of runtime.instructions.filter((i) => i.keyword === 'RUN')) {
    for (const m of run.args.matchAll(/\bln -s (\S+) (\S+)/g)) links.set(m[2] as string, m[1] as string);
  }
  return {
    stages,
    runtime,
    workdir: need('WORKDIR'),
    env: envOf(runtime),
    entrypoint: execForm(need('ENTRYPOINT'), 'ENTRYPOINT'),
    cmd: execForm(need('CMD'), 'CMD'),
    user: need('USER'),
    volumes: execForm(need('VOLUME'), 'VOLUME'),
    exposed: runtime.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.replace(/\/tcp$/, '')))),
    healthcheck: execForm(need('HEALTHCHECK'), 'HEALTHCHECK'),
    links,
  };
}

/** The production packages of package-lock.json, top level only (nested ones come with their parent). */
export function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, meta]) => path !== '' && !meta.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path))
    .map(([path]) => path.slice('node_modules/'.length));
}

/**
 * A copy of the image's application directory (WORKDIR) in a fresh temporary folder outside the
 * repository (so module resolution cannot fall back to the repository's node_modules): dist/src
 * and proto/ copied, production packages linked. Needs `npm run build` first.
 */
export class RuntimeTree {
  readonly root: string;
  readonly spec: ImageSpec;

  constructor(spec = imageSpec()) {
    this.spec = spec;
    this.root = mkdtempSync(join(tmpdir(), 'conclave-image-'));
    const app = this.app;
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    cpSync(join(REPO, 'dist/src'), join(app, 'dist/src'), { recursive: true });
    cpSync(join(REPO, 'proto'), join(app, 'proto'), { recursive: true });
    writeFileSync(join(app, 'package.json'), readFileSync(join(REPO, 'package.json')));
    for (const pkg of productionPackages()) {
      mkdirSync(dirname(join(app, 'node_modules', pkg)), { recursive: true });
      symlinkSync(join(REPO, 'node_modules', pkg), join(app, 'node_modules', pkg), 'dir');
    }
  }

  /** Where the image's WORKDIR (/app) is. */
  get app(): string {
    return this.path(this.spec.workdir);
  }

  /** An absolute path inside the image, mapped into this tree. */
  path(inImage: string): string {
    return join(this.root, inImage);
  }

  /**
   * A command as the container would run it ([executable, ...args]): `node` is this Node.js;
   * a command found in the image's `ln -s` links (`conclave`) runs the linked script with it.
   */
  command(argv: readonly string[]): [string, string[]] {
    const [first, ...rest] = argv;
    if (first === undefined) throw new Error('empty command');
    if (first === 'node') return [process.execPath, rest.map((a) => (a.startsWith(this.spec.workdir + '/') ? this.path(a) : a))];
    const linked = [...this.spec.links].find(([link]) => link === first || link.endsWith(`/${first}`));
    if (!linked) throw new Error(`the image has no command "${first}" (known: node, ${[...this.spec.links.keys()].join(', ')})`);
    return [process.execPath, [this.path(linked[1]), ...rest]];
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
