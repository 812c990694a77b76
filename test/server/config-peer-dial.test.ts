/** `--peer-dial`: parsing, its errors, and its place among the other options. */
import { describe, expect, it } from 'vitest';
import { isConclaveError, ErrorCode } from '../../src/common/errors.js';
import { parsePeerDial, parseServerConfig } from '../../src/server/config.js';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err: unknown) {
    if (isConclaveError(err, ErrorCode.INVALID_ARGUMENT)) return err.message;
    throw err;
  }
  throw new Error('expected an INVALID_ARGUMENT refusal');
}

describe('--peer-dial', () => {
  it('maps each member id to the address to dial it at', () => {
    expect(parsePeerDial('2=127.0.0.1:5192, 3=proxy.local:5193', 1)).toEqual(
      new Map([
        [2, '127.0.0.1:5192'],
        [3, 'proxy.local:5193'],
      ]),
    );
    expect(parsePeerDial(undefined, 1)).toEqual(new Map());
    expect(parsePeerDial('  ', 1)).toEqual(new Map());
  });

  it('comes from the flag or the environment, and is empty by default', () => {
    expect(parseServerConfig(['--id', '1', '--peer-dial', '2=127.0.0.1:7002'], {}).peerDial).toEqual(new Map([[2, '127.0.0.1:7002']]));
    expect(parseServerConfig(['--id', '1'], { CONCLAVE_PEER_DIAL: '3=127.0.0.1:7003' }).peerDial).toEqual(new Map([[3, '127.0.0.1:7003']]));
    expect(parseServerConfig([], {}).peerDial.size).toBe(0);
  });

  it('refuses malformed entries with a message naming the entry', () => {
    expect(refusal(() => parsePeerDial('2=127.0.0.1', 1))).toMatch(/"2=127.0.0.1" must look like/);
    expect(refusal(() => parsePeerDial('x=127.0.0.1:1', 1))).toMatch(/must look like/);
    expect(refusal(() => parsePeerDial('2=127.0.0.1:1/127.0.0.1:2', 1))).toMatch(/must look like/);
    expect(refusal(() => parsePeerDial('0=127.0.0.1:1', 1))).toMatch(/positive integer/);
    expect(refusal(() => parsePeerDial('2=a:1,2=b:2', 1))).toMatch(/listed twice/);
    expect(refusal(() => parsePeerDial('1=127.0.0.1:1', 1))).toMatch(/names this member/);
    expect(refusal(() => parseServerConfig(['--peer-dial', '2='], {}))).toMatch(/--peer-dial entry/);
  });
});
