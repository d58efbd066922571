import { FreshetError } from '../errors.ts';

/**
 * Every environment variable freshet reads is read here, once, and nowhere else.
 * Unset or empty variables take the documented default.
 */
export interface FreshetConfig {
  /** HTTP port of the lookup API. PORT, default 8080. */
  port: number;
  /** Interface the API binds to. HOST, default 0.0.0.0. */
  host: string;
  logLevel: string;
  /** Directory of pipeline files. FRESHET_PIPELINES_DIR, default ./pipelines. */
  pipelinesDir: string;
  kafka: {
    /** KAFKA_BROKERS, comma-separated host:port; unset means embedded (HTTP/replay input). */
    brokers: string[];
    clientId: string;
    groupId: string;
    eventsTopic: string;
    contentsTopic: string;
    deadLetterTopic: string;
    /** Partitions of topics freshet creates when missing. KAFKA_TOPIC_PARTITIONS, default 4. */
    partitions: number;
  } | undefined;
  /** REDIS_URL; unset means in-process state. */
  redisUrl: string | undefined;
  /** Prefix of every Redis key. REDIS_PREFIX, default "fr:". */
  redisPrefix: string;
  clickhouse: {
    url: string;
    database: string;
    username: string;
    password: string;
  } | undefined;
  batch: {
    /** Most events applied in one state transaction. BATCH_MAX_EVENTS, default 2000. */
    maxEvents: number;
    /** Longest an event waits for its batch to fill, ms. BATCH_MAX_MS, default 50. */
    maxMs: number;
  };
  /** Events queued in process (embedded input) before POST /v1/events answers 503. MAX_PENDING_EVENTS, default 100000. */
  maxPendingEvents: number;
  /** Events more than this ahead of the wall clock are dead-lettered, ms. MAX_EVENT_FUTURE_MS, default 300000. */
  maxFutureMs: number;
  analytics: {
    /** How often pending aggregates are written to ClickHouse, ms. ANALYTICS_FLUSH_MS, default 1000. */
    flushMs: number;
    /** Pending batches of aggregates at which consumption pauses. ANALYTICS_MAX_PENDING, default 5000. */
    maxPending: number;
  };
  /** How stale the in-process item index may be when answering, ms. INDEX_MAX_STALENESS_MS, default 100. */
  indexMaxStalenessMs: number;
  /** Longest a graceful shutdown may take before the process exits anyway, ms. SHUTDOWN_TIMEOUT_MS, default 15000. */
  shutdownTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FreshetError('config_invalid', `${name} must be an integer from ${min} to ${max}, got "${raw}"`, {
      field: name,
    });
  }
  return value;
}

function url(env: Env, name: string): string | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  try {
    new URL(raw);
  } catch {
    throw new FreshetError('config_invalid', `${name} must be a URL, got "${raw}"`, { field: name });
  }
  return raw;
}

export function loadConfig(env: Env = process.env): FreshetConfig {
  const brokers = optional(env, 'KAFKA_BROKERS')
    ?.split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  for (const broker of brokers ?? []) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker)) {
      throw new FreshetError('config_invalid', `KAFKA_BROKERS entries must be host:port, got "${broker}"`, {
        field: 'KAFKA_BROKERS',
      });
    }
  }
  const clickhouseUrl = url(env, 'CLICKHOUSE_URL');

  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: text(env, 'HOST', '0.0.0.0'),
    logLevel: text(env, 'LOG_LEVEL', 'info'),
    pipelinesDir: text(env, 'FRESHET_PIPELINES_DIR', 'pipelines'),
    kafka:
      brokers === undefined || brokers.length === 0
        ? undefined
        : {
            brokers,
            clientId: text(env, 'KAFKA_CLIENT_ID', 'freshet'),
            groupId: text(env, 'KAFKA_GROUP_ID', 'freshet'),
            eventsTopic: text(env, 'KAFKA_EVENTS_TOPIC', 'events'),
            contentsTopic: text(env, 'KAFKA_CONTENTS_TOPIC', 'contents'),
            deadLetterTopic: text(env, 'KAFKA_DLQ_TOPIC', 'events.dlq'),
            partitions: integer(env, 'KAFKA_TOPIC_PARTITIONS', 4, 1, 10_000),
          },
    redisUrl: url(env, 'REDIS_URL'),
    redisPrefix: text(env, 'REDIS_PREFIX', 'fr:'),
    clickhouse:
      clickhouseUrl === undefined
        ? undefined
        : {
            url: clickhouseUrl,
            database: text(env, 'CLICKHOUSE_DATABASE', 'freshet'),
            username: text(env, 'CLICKHOUSE_USER', 'default'),
            password: env.CLICKHOUSE_PASSWORD ?? '',
          },
    batch: {
      maxEvents: integer(env, 'BATCH_MAX_EVENTS', 2000, 1, 100_000),
      maxMs: integer(env, 'BATCH_MAX_MS', 50, 1, 60_000),
    },
    maxPendingEvents: integer(env, 'MAX_PENDING_EVENTS', 100_000, 1, 100_000_000),
    maxFutureMs: integer(env, 'MAX_EVENT_FUTURE_MS', 300_000, 0, 365 * 86_400_000),
    analytics: {
      flushMs: integer(env, 'ANALYTICS_FLUSH_MS', 1000, 10, 600_000),
      maxPending: integer(env, 'ANALYTICS_MAX_PENDING', 5000, 1, 10_000_000),
    },
    indexMaxStalenessMs: integer(env, 'INDEX_MAX_STALENESS_MS', 100, 0, 600_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
  };
}
