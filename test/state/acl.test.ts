import { describe, expect, it } from 'vitest';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import { AclTable, PERMISSIONS, aclsTable, validateIdentity, type AclGrant } from '../../src/state/acl.js';
import { stateLimits } from '../../src/state/limits.js';

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err: unknown) {
    if (err instanceof ConclaveError) return err.code;
    throw err;
  }
}

function table(entries: Record<string, AclGrant[]>): AclTable {
  const t = new AclTable();
  for (const [path, grants] of Object.entries(entries)) t.set(path, grants);
  return t;
}

describe('AclTable.allowed', () => {
  it('inherits down the subtree: a grant on /a covers /a and /a/b/c, not /ab, / or other permissions', () => {
    const t = table({ '/a': [{ identity: 'alice', perms: ['read'] }] });
    expect(t.allowed('alice', 'read', '/a')).toBe(true);
    expect(t.allowed('alice', 'read', '/a/b/c')).toBe(true);
    expect(t.allowed('alice', 'read', '/ab')).toBe(false);
    expect(t.allowed('alice', 'read', '/ab/c')).toBe(false);
    expect(t.allowed('alice', 'read', '/')).toBe(false);
    expect(t.allowed('alice', 'write', '/a/b')).toBe(false);
    expect(t.allowed('bob', 'read', '/a/b')).toBe(false);
  });

  it('applies a grant to * to every identity, and one set on / everywhere', () => {
    const t = table({ '/': [{ identity: '*', perms: ['read'] }] });
    for (const who of ['alice', 'bob', 'svc:x@y']) {
      expect(t.allowed(who, 'read', '/')).toBe(true);
      expect(t.allowed(who, 'read', '/deep/down/there')).toBe(true);
      expect(t.allowed(who, 'write', '/deep')).toBe(false);
    }
  });

  it('lets root do everything, with or without ACLs', () => {
    expect(new AclTable().allowed('root', 'admin', '/x')).toBe(true);
    const t = table({ '/x': [{ identity: 'alice', perms: ['read'] }] });
    for (const p of PERMISSIONS) expect(t.allowed('root', p, '/x/y')).toBe(true);
    expect(t.effective('root', '/anything')).toEqual(PERMISSIONS);
    expect(new AclTable().allowed('alice', 'read', '/')).toBe(false);
  });

  it('unites every ACL on the path and its ancestors (additive: nothing is ever taken away)', () => {
    const t = table({
      '/': [{ identity: 'alice', perms: ['read'] }],
      '/a': [
        { identity: 'alice', perms: ['write'] },
        { identity: '*', perms: ['create'] },
      ],
      '/a/b': [{ identity: 'bob', perms: ['delete'] }],
    });
    expect(t.effective('alice', '/a/b/c')).toEqual(['read', 'write', 'create']);
    expect(t.effective('alice', '/b')).toEqual(['read']);
    expect(t.effective('bob', '/a/b')).toEqual(['create', 'delete']);
    expect(t.effective('bob', '/a')).toEqual(['create']);
    expect(t.effective('carol', '/zzz')).toEqual([]);
    expect(t.allowed('bob', 'delete', '/a/b/x')).toBe(true);
    expect(t.allowed('bob', 'delete', '/a/c')).toBe(false);
  });

  it('does not mix up paths that merely share a prefix or end in a sequential prefix', () => {
    const t = table({ '/q': [{ identity: 'alice', perms: ['create'] }] });
    expect(t.allowed('alice', 'create', '/q/')).toBe(true); // a sequential prefix under /q
    expect(t.allowed('alice', 'create', '/q/item-')).toBe(true);
    expect(t.allowed('alice', 'create', '/qq/item-')).toBe(false);
  });
});

describe('AclTable changes', () => {
  it('stores grants normalized: merged per identity, sorted, perms in canonical order, empty grants dropped', () => {
    const t = new AclTable();
    t.set('/a', [
      { identity: 'zed', perms: ['lock', 'read'] },
      { identity: 'amy', perms: [] },
      { identity: 'bob', perms: ['write'] },
      { identity: 'zed', perms: ['read', 'admin'] },
    ]);
    expect(t.get('/a')).toEqual([
      { identity: 'bob', perms: ['write'] },
      { identity: 'zed', perms: ['read', 'admin', 'lock'] },
    ]);
    expect(t.get('/a/b')).toBeUndefined(); // get is the ACL set exactly there
  });

  it('replaces on set, removes on an empty list or remove; removing what is not set is NO_NODE; every change bumps the version', () => {
    const t = new AclTable();
    expect(t.version).toBe(0);
    t.set('/a', [{ identity: 'alice', perms: ['read'] }]);
    t.set('/a', [{ identity: 'bob', perms: ['write'] }]);
    expect(t.version).toBe(2);
    expect(t.allowed('alice', 'read', '/a')).toBe(false);
    expect(t.allowed('bob', 'write', '/a')).toBe(true);
    t.set('/a', []);
    expect(t.get('/a')).toBeUndefined();
    expect(t.version).toBe(3);
    t.set('/a', [{ identity: 'bob', perms: [] }]); // grants nothing, and nothing was set: no change
    expect(t.version).toBe(3);
    expect(codeOf(() => t.remove('/a'))).toBe(ErrorCode.NO_NODE);
    t.set('/b', [{ identity: 'bob', perms: ['read'] }]);
    t.remove('/b');
    expect(t.version).toBe(5);
    expect(t.size).toBe(0);
  });

  it('lists every ACL sorted by path', () => {
    const t = table({ '/z': [{ identity: 'a', perms: ['read'] }], '/': [{ identity: 'b', perms: ['read'] }], '/a/b': [{ identity: 'c', perms: ['read'] }] });
    expect(t.list().map((e) => e.path)).toEqual(['/', '/a/b', '/z']);
  });

  it('validates identities, permissions and paths, changing nothing on refusal', () => {
    const t = new AclTable();
    const bad: Array<[unknown, string]> = [
      [[{ identity: '', perms: ['read'] }], ErrorCode.BAD_ARGUMENTS],
      [[{ identity: 'a b', perms: ['read'] }], ErrorCode.BAD_ARGUMENTS],
      [[{ identity: 'é', perms: ['read'] }], ErrorCode.BAD_ARGUMENTS],
      [[{ identity: 'x'.repeat(257), perms: ['read'] }], ErrorCode.BAD_ARGUMENTS],
      [[{ identity: 7, perms: ['read'] }], ErrorCode.BAD_ARGUMENTS],
      [[{ identity: 'a', perms: ['fly'] }], ErrorCode.BAD_ARGUMENTS],
      [[{ identity: 'a', perms: 'read' }], ErrorCode.BAD_ARGUMENTS],
      [[null], ErrorCode.BAD_ARGUMENTS],
      ['read', ErrorCode.BAD_ARGUMENTS],
    ];
    for (const [grants, code] of bad) expect(codeOf(() => t.set('/a', grants as AclGrant[])), JSON.stringify(grants)).toBe(code);
    expect(codeOf(() => t.set('/a/', [{ identity: 'a', perms: ['read'] }]))).toBe(ErrorCode.BAD_PATH);
    expect(codeOf(() => t.set('a', [{ identity: 'a', perms: ['read'] }]))).toBe(ErrorCode.BAD_PATH);
    expect(codeOf(() => t.remove('/a/../b'))).toBe(ErrorCode.BAD_PATH);
    expect(t.size).toBe(0);
    expect(t.version).toBe(0);
    expect(codeOf(() => validateIdentity('svc:deploy@prod-1.example_x'))).toBe('ok');
    expect(codeOf(() => validateIdentity('x'.repeat(256)))).toBe('ok');
    expect(codeOf(() => validateIdentity('*'))).toBe(ErrorCode.BAD_ARGUMENTS); // * is for grants only
  });

  it('puts a limit on ACLs and on grants per ACL (LIMIT_EXCEEDED)', () => {
    const t = new AclTable({ ...stateLimits, aclsMax: 2, aclGrantsMax: 3 });
    const g = [{ identity: 'a', perms: ['read'] }] as const;
    t.set('/a', g);
    t.set('/b', g);
    expect(codeOf(() => t.set('/c', g))).toBe(ErrorCode.LIMIT_EXCEEDED);
    t.set('/b', [{ identity: 'b', perms: ['write'] }]); // replacing one is not another
    t.remove('/a');
    t.set('/c', g);
    const four = ['a', 'b', 'c', 'd'].map((identity) => ({ identity, perms: ['read'] as const }));
    expect(codeOf(() => t.set('/c', four))).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(t.get('/c')).toEqual(g);
    expect(stateLimits.aclsMax).toBe(10_000);
    expect(stateLimits.aclGrantsMax).toBe(64);
  });
});

describe('AclTable digest and snapshot rows', () => {
  const sample = (): AclTable =>
    table({
      '/': [{ identity: '*', perms: ['read'] }],
      '/team/a': [
        { identity: 'alice', perms: ['admin', 'write'] },
        { identity: 'bob', perms: ['lock'] },
      ],
    });

  it('digests every ACL independent of insertion order; any change moves it, undoing it restores it', () => {
    const a = sample();
    const b = table({ '/team/a': [{ identity: 'bob', perms: ['lock'] }, { identity: 'alice', perms: ['write', 'admin'] }], '/': [{ identity: '*', perms: ['read'] }] });
    expect(b.digest()).toBe(a.digest());
    expect(new AclTable().digest()).toBe(0);
    const before = a.digest();
    a.set('/team/a', [{ identity: 'alice', perms: ['admin'] }, { identity: 'bob', perms: ['lock'] }]);
    expect(a.digest()).not.toBe(before);
    a.set('/team/a', [{ identity: 'alice', perms: ['admin', 'write'] }, { identity: 'bob', perms: ['lock'] }]);
    expect(a.digest()).toBe(before);
    a.set('/team/b', [{ identity: 'alice', perms: ['admin', 'write'] }]);
    expect(a.digest()).not.toBe(before);
  });

  it('round-trips through rows: same ACLs, decisions and digest; the version moves past the old table', () => {
    const a = sample();
    const rows = a.rows();
    expect(rows).toEqual([
      ['/', '[["*",["read"]]]'],
      ['/team/a', '[["alice",["write","admin"]],["bob",["lock"]]]'],
    ]);
    expect(rows.every((r) => r.length === aclsTable.columns.length)).toBe(true);
    const b = AclTable.fromRows(rows, stateLimits, 41);
    expect(b.list()).toEqual(a.list());
    expect(b.digest()).toBe(a.digest());
    expect(b.allowed('bob', 'lock', '/team/a/x')).toBe(true);
    expect(b.version).toBe(42);
  });

  it('refuses rows that are not a valid ACL table with CORRUPTED', () => {
    const rows = sample().rows();
    const broken = [
      [['/a']],
      [['/a', 'not json']],
      [['/a', '[]']],
      [['/a', '[["alice",[]]]']],
      [['/a', '[["alice",["fly"]]]']],
      [['/a', '[["a b",["read"]]]']],
      [['/a', '[["alice"]]']],
      [['/a', 7]],
      [['a', '[["alice",["read"]]]']],
      [...rows, rows[0]!],
    ];
    for (const b of broken) expect(codeOf(() => AclTable.fromRows(b)), JSON.stringify(b)).toBe(ErrorCode.CORRUPTED);
    expect(codeOf(() => AclTable.fromRows(Array.from({ length: 3 }, (_, i) => [`/p${i}`, '[["a",["read"]]]']), { ...stateLimits, aclsMax: 2 }))).toBe(ErrorCode.CORRUPTED);
  });
});
