import { describe, expect, it } from 'vitest';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import { baseName, joinPath, parentPath, sequentialSuffix, utf8Length, validatePath } from '../../src/state/path.js';

function badPath(path: string, opts?: Parameters<typeof validatePath>[1]): ConclaveError {
  try {
    validatePath(path, opts);
  } catch (err: unknown) {
    if (err instanceof ConclaveError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(path)} to be rejected`);
}

describe('validatePath', () => {
  it.each(['/', '/a', '/a/b/c', '/zookeeper', '/.a', '/a.', '/...', '/a b', '/ünï/çödé', '/emoji-\u{1F600}', '/a/-/_'])('accepts %j', (p) => {
    expect(() => validatePath(p)).not.toThrow();
  });

  it.each([
    ['', 'empty'],
    ['a', 'start with /'],
    ['a/b', 'start with /'],
    ['/a/', 'end with /'],
    ['//', 'end with /'],
    ['/a//b', 'empty segment'],
    ['/.', 'relative segment'],
    ['/..', 'relative segment'],
    ['/a/./b', 'relative segment'],
    ['/a/../b', 'relative segment'],
    ['/a\u0000b', 'control character U+0000'],
    ['/a\nb', 'control character U+000A'],
    ['/a\u001f', 'control character U+001F'],
    ['/a\u007f', 'control character U+007F'],
    ['/a\u0085', 'control character U+0085'],
    ['/a\u009f', 'control character U+009F'],
    ['/a\ud800', 'lone surrogate'],
    ['/\udc00a', 'lone surrogate'],
    ['/a\ud800b', 'lone surrogate'],
  ])('rejects %j with BAD_PATH (%s)', (p, why) => {
    const err = badPath(p);
    expect(err.code).toBe(ErrorCode.BAD_PATH);
    expect(err.message).toContain(why);
  });

  it('counts UTF-8 bytes, not characters, against pathBytesMax', () => {
    const ascii = '/' + 'a'.repeat(4095);
    expect(utf8Length(ascii)).toBe(4096);
    expect(() => validatePath(ascii)).not.toThrow();
    expect(badPath(ascii + 'a').message).toContain('longer than 4096');
    const twoByte = '/' + 'é'.repeat(2047); // 1 + 4094 bytes
    expect(() => validatePath(twoByte)).not.toThrow();
    expect(badPath(twoByte + 'é').code).toBe(ErrorCode.BAD_PATH);
    expect(utf8Length('/\u{1F600}')).toBe(5);
    expect(() => validatePath('/abcd', { pathBytesMax: 4 })).toThrow(/longer than 4/);
  });

  it('lets a sequential prefix end in / and counts the 10-digit suffix toward the length', () => {
    expect(() => validatePath('/locks/', { allowSequentialPrefix: true })).not.toThrow();
    expect(() => validatePath('/', { allowSequentialPrefix: true })).not.toThrow();
    expect(() => validatePath('/locks/lock-', { allowSequentialPrefix: true })).not.toThrow();
    expect(badPath('/locks/').code).toBe(ErrorCode.BAD_PATH);
    expect(badPath('/a//', { allowSequentialPrefix: true }).code).toBe(ErrorCode.BAD_PATH);
    expect(badPath('/a/..', { allowSequentialPrefix: false }).code).toBe(ErrorCode.BAD_PATH);
    const prefix = '/' + 'a'.repeat(4085); // 4086 + 10 = 4096
    expect(() => validatePath(prefix, { allowSequentialPrefix: true })).not.toThrow();
    expect(badPath(prefix + 'a', { allowSequentialPrefix: true }).code).toBe(ErrorCode.BAD_PATH);
  });

  it('rejects a non-string without crashing', () => {
    expect(badPath(42 as unknown as string).code).toBe(ErrorCode.BAD_PATH);
  });
});

describe('path helpers', () => {
  it('splits and joins', () => {
    expect(parentPath('/a')).toBe('/');
    expect(parentPath('/a/b/c')).toBe('/a/b');
    expect(baseName('/a/b/c')).toBe('c');
    expect(joinPath('/', 'a')).toBe('/a');
    expect(joinPath('/a', 'b')).toBe('/a/b');
  });

  it('formats sequential suffixes as 10 zero-padded digits, like %010d', () => {
    expect(sequentialSuffix(0)).toBe('0000000000');
    expect(sequentialSuffix(42)).toBe('0000000042');
    expect(sequentialSuffix(9_999_999_999)).toBe('9999999999');
  });
});
