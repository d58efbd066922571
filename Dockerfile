# freshet engine image. Node 24 runs the TypeScript sources directly
# (built-in type stripping), so there is no build step.
FROM node:24-slim

ENV NODE_ENV=production \
    KAFKA_BROKERS=kafka:9092 \
    REDIS_URL=redis://redis:6379 \
    CLICKHOUSE_URL=http://clickhouse:8123 \
    PORT=8080

WORKDIR /app

# Dependencies first, so source edits do not invalidate the npm layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

USER node
EXPOSE 8080
# V8 and C allocator settings of the engine process: see src/node-flags.ts.
ENV MALLOC_MMAP_THRESHOLD_=131072
CMD ["node", "--min-semi-space-size=64", "--no-memory-reducer", "src/cli.ts", "run"]
