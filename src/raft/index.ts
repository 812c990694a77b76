export { RAFT_MUTATIONS, type RaftConfig, type RaftMutation } from './config.js';
export { applyToConfState, confChangeProblem, decodeConfChange, encodeConfChange } from './conf-change.js';
export { describeEntry, describeHardState, describeMessage, describeReady } from './describe.js';
export { RawNode, bootstrapEntries, type Ready, type Status } from './raw-node.js';
export { MemoryStorage, type InitialState, type Storage } from './storage.js';
export * from './types.js';
