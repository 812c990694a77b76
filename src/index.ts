/** The `conclave` package: the client SDK and its typed errors. */
export * from './client/index.js';
export { ConclaveError, ErrorCode, isConclaveError } from './common/errors.js';
