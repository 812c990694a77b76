/** The key of a client's session internals, for the SDK's own recipes and tests (not exported from the package). */
export const clientInternals = Symbol('conclave.clientInternals');
