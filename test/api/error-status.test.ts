import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CODE_METADATA_KEY, GRPC_STATUS_OF, LEADER_METADATA_KEY, fromServiceError, toServiceError } from '../../src/api/error-status.js';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';

const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
/** The README's error table: code → gRPC status name. */
const DOCUMENTED = new Map([...README.matchAll(/^\| `([A-Z_]+)` \| ([A-Z_]+) \| .+ \|$/gm)].map((m) => [m[1] as string, m[2] as string]));

describe('the one error table', () => {
  for (const code of Object.values(ErrorCode)) {
    it(`${code} maps to a gRPC status, as the README's table says`, () => {
      expect(GRPC_STATUS_OF[code]).toBeTypeOf('number');
      expect(GRPC_STATUS_OF[code]).not.toBe(grpc.status.OK);
      expect(DOCUMENTED.get(code)).toBe(grpc.status[GRPC_STATUS_OF[code]]);
    });
  }

  it('documents no code that does not exist', () => {
    expect([...DOCUMENTED.keys()].sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('carries the typed reason and the leader hint in trailing metadata, and reads them back', () => {
    const status = toServiceError(new ConclaveError(ErrorCode.NOT_LEADER, 'not me', {}), '127.0.0.1:4181');
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.metadata?.get(CODE_METADATA_KEY)).toEqual(['NOT_LEADER']);
    expect(status.metadata?.get(LEADER_METADATA_KEY)).toEqual(['127.0.0.1:4181']);
    const back = fromServiceError(Object.assign(new Error('x'), { code: status.code ?? 0, details: status.details ?? '', metadata: status.metadata ?? new grpc.Metadata() }));
    expect(back.code).toBe(ErrorCode.NOT_LEADER);
    expect(back.details['leader']).toBe('127.0.0.1:4181');
  });

  it('never leaks the text of an untyped error', () => {
    const status = toServiceError(new Error('secret stack detail'));
    expect(status.code).toBe(grpc.status.INTERNAL);
    expect(status.details).toBe('internal error');
  });
});

describe('ConclaveError messages', () => {
  it('carry the code once, also when passed along from another error', () => {
    const first = new ConclaveError(ErrorCode.NO_NODE, '/x does not exist');
    expect(first.message).toBe('NO_NODE: /x does not exist');
    expect(new ConclaveError(ErrorCode.NO_NODE, first.message).message).toBe('NO_NODE: /x does not exist');
    expect(new ConclaveError(ErrorCode.BAD_PATH, first.message).message).toBe('BAD_PATH: NO_NODE: /x does not exist');
  });
});
