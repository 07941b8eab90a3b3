# syntax=docker/dockerfile:1
# tutorgate image: build once, run many instances (see deploy/compose.yaml, docs/operations.md).
# Not built in the development sandbox (no Docker engine there); CI builds it.
# Node 20 left support on 2026-04-30; 22 is a maintained LTS (to April 2027), and every
# dependency here supports it (better-sqlite3 12 ships builds for it). The code also runs
# on 20.19+ (package.json engines), which the development machines use.
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile TypeScript and the native better-sqlite3 module ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 is native: when no prebuilt binary matches, npm compiles it with node-gyp,
# which needs python3, make and a C++ compiler. They stay in this stage only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run the build before the sources are here. Only
# better-sqlite3's install script is needed, so it is run explicitly.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
# tsc emits JavaScript only; scripts/build.mjs copies the data files read at run time next
# to the code (demo catalog, rubrics, model parameters). Then drop dev dependencies,
# keeping the better-sqlite3 binary compiled above.
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime: production dependencies and compiled code, no compiler ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    TUTORGATE_DATA_DIR=/app/data \
    DATABASE_URL=sqlite:/app/data/tutorgate.db
WORKDIR /app
# Code and dependencies stay owned by root: the service user can read them, not change them.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The only writable place: SQLite database and the generated JWT secret (single-instance
# installs; scaled-out installs use Postgres and a shared TUTORGATE_JWT_SECRET instead).
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
# `node` (uid 1000) ships with the official image.
USER node
EXPOSE 3000
# Liveness only (/healthz): a dependency outage must not get the container restarted;
# load balancers use /readyz for that.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node runs as PID 1 and handles SIGTERM (drain, then exit) and SIGHUP (reload the API key file) itself.
CMD ["node", "bin/tutorgate.js", "serve"]
