# syntax=docker/dockerfile:1
# spaceview image: one image for every process; docker-compose.yml picks the command
#   node bin/spaceview.mjs api                  the XRPC API (and notifyWrite receiver)
#   node bin/spaceview.mjs worker --queues ...  BullMQ workers
#   node dist/workers/devnet.js                 the simulated network (compose profile "devnet")
# Configuration is environment variables only (see docker-compose.yml). glibc base images throughout:
# chdb ships prebuilt linux-x64-gnu / linux-arm64-gnu libraries, not musl ones.

# Production dependencies only, for the runtime image. `npm install`, not `npm ci`: chdb's lockfile
# entries name other platforms' optional builds.
FROM node:22-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund

# Full install and the TypeScript build: src/ → dist/src, workers/ → dist/workers, bench/ → dist/bench.
FROM node:22-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SPACEVIEW_DATA_DIR=/data \
    SPACEVIEW_API_HOST=0.0.0.0 \
    SPACEVIEW_API_PORT=2590 \
    METRICS_PORT=9464
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/scripts/node-guard.mjs ./scripts/node-guard.mjs
# The API reads its lexicon documents from /app/lexicons at start-up.
COPY --from=build /app/lexicons ./lexicons
# The embedded ClickHouse (when CLICKHOUSE_URL is unset) keeps its files under SPACEVIEW_DATA_DIR.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 2590 9464
CMD ["node", "bin/spaceview.mjs", "api"]
