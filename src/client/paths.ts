/** Znode path arithmetic (validation stays with the server: one set of rules, typed BAD_PATH errors). */

export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** The parent of `path` ('/' for top-level nodes and for '/'). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The last segment of `path`. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** '/a/b/c' → ['/a', '/a/b', '/a/b/c']. */
export function ancestorsAndSelf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/', 1); i > 0; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  if (path !== '/') out.push(path);
  return out;
}

/** Whether `path` is `root` or below it. */
export function isWithin(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}
