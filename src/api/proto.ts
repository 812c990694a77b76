/**
 * Loads the public API (proto/conclave.proto) for grpc-js. The proto folder sits at the package
 * root, two levels above this file in the sources and three in the compiled `dist/`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '../../proto'), join(here, '../../../proto')]) {
    if (existsSync(join(candidate, 'conclave.proto'))) return candidate;
  }
  throw new Error(`proto/conclave.proto not found near ${here}`);
}

export interface ConclaveApi {
  readonly Conclave: grpc.ServiceClientConstructor;
  readonly Cluster: grpc.ServiceClientConstructor;
  readonly Locks: grpc.ServiceClientConstructor;
  readonly Access: grpc.ServiceClientConstructor;
  readonly Health: grpc.ServiceClientConstructor;
  /** The loaded definitions, for gRPC server reflection. */
  readonly definition: protoLoader.PackageDefinition;
}

let cached: ConclaveApi | undefined;

export function loadApi(): ConclaveApi {
  if (cached) return cached;
  const definition = protoLoader.loadSync([join(protoDir(), 'conclave.proto'), join(protoDir(), 'health.proto')], {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    conclave: { v1: { Conclave: grpc.ServiceClientConstructor; Cluster: grpc.ServiceClientConstructor; Locks: grpc.ServiceClientConstructor; Access: grpc.ServiceClientConstructor } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  cached = { ...pkg.conclave.v1, Health: pkg.grpc.health.v1.Health, definition };
  return cached;
}
