# Conclave server image.
#
#   docker build -t conclave:0.1.0 .
#   docker run -d --name conclave -p 4180:4180 -p 4280:4280 -v conclave-data:/var/lib/conclave conclave:0.1.0
#
# Stage 1 builds: the native toolchain compiles better-sqlite3 when no prebuilt binary fits, tsc
# compiles the TypeScript, then the dev dependencies are pruned. Stage 2 runs: the same Node.js base
# (so the compiled addon matches its glibc and ABI), production dependencies and compiled JS only,
# as an unprivileged user, data in a volume. Configuration is CONCLAVE_* environment variables
# (`conclave server --help`); test/deploy/dockerfile.test.ts runs the entry point below as written.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# npm and corepack are not needed to run the server: leave them out of the runtime image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
 && groupadd --gid 10001 conclave \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin conclave \
 && mkdir -p /var/lib/conclave \
 && chown 10001:10001 /var/lib/conclave
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/proto ./proto
COPY --from=build /src/dist/src ./dist/src
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/conclave

ENV NODE_ENV=production \
    CONCLAVE_DATA=/var/lib/conclave/data \
    CONCLAVE_LISTEN=0.0.0.0:4180 \
    CONCLAVE_PEER_LISTEN=0.0.0.0:4190 \
    CONCLAVE_METRICS_LISTEN=0.0.0.0:4280
# The data directory is a subdirectory of the volume: a fresh ext4 volume holds lost+found at its
# root, and the volume's root also takes restore files (see README, In Kubernetes with Helm).
VOLUME ["/var/lib/conclave"]
# 4180 client gRPC API, 4190 Raft peers, 4280 HTTP /metrics, /livez, /readyz.
EXPOSE 4180 4190 4280
USER 10001:10001

# Healthy = ready: a leader is known and everything committed here is applied (GET /readyz on the
# metrics port). Liveness alone is GET /livez. Kubernetes uses its own probes (see the Helm chart).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p=(process.env.CONCLAVE_METRICS_LISTEN||'').split(':').pop()||'4280';fetch('http://127.0.0.1:'+p+'/readyz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["conclave"]
CMD ["server"]
