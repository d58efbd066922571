import { FreshetError } from '../errors.ts';
import { decimal } from '../numbers.ts';
import { checkedPushParam, pushParams, type PushParams } from '../push/params.ts';
import { CLICKED_MAX_ITEMS } from '../state/store.ts';

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
    /** How long the group waits for a silent member before handing its partitions over, ms. KAFKA_SESSION_TIMEOUT_MS, default 30000. */
    sessionTimeoutMs: number;
    /** Most bytes fetched from one partition per request. KAFKA_MAX_BYTES_PER_PARTITION, default 2097152. */
    maxBytesPerPartition: number;
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
    /** Most events applied in one state transaction. BATCH_MAX_EVENTS, default 10000. */
    maxEvents: number;
    /** Longest an event waits for its batch to fill, ms. BATCH_MAX_MS, default 50. */
    maxMs: number;
    /** Partitions whose batches are applied at once. BATCH_CONCURRENCY, default 4. */
    concurrency: number;
  };
  /** Events queued in process (embedded input) before POST /v1/events answers 503. MAX_PENDING_EVENTS, default 100000. */
  maxPendingEvents: number;
  /** Events more than this ahead of the wall clock are dead-lettered, ms. MAX_EVENT_FUTURE_MS, default 300000. */
  maxFutureMs: number;
  analytics: {
    /**
     * How often pending aggregates are written to ClickHouse, ms. ANALYTICS_FLUSH_MS, default 5000:
     * each write makes a part per table that ClickHouse merges into the month's, and at one write a
     * second those merges took more CPU than the engine at 5,000 events/s (README, Performance).
     */
    flushMs: number;
    /** Pending batches of aggregates at which consumption pauses. ANALYTICS_MAX_PENDING, default 5000. */
    maxPending: number;
  };
  /** How stale the in-process item index may be when answering, ms. INDEX_MAX_STALENESS_MS, default 100. */
  indexMaxStalenessMs: number;
  /** Items from which recommendations scan the bound index instead of every item. INDEX_BOUND_MIN_ITEMS, default 20000. */
  indexBoundMinItems: number;
  /** A user's keys not written for this long expire, ms; 0 keeps them. USER_TTL_MS, default 90 days. */
  userTtlMs: number;
  /** An item's keys not written for this long expire, and it leaves the index, ms; 0 keeps them. ITEM_TTL_MS, default 30 days. */
  itemTtlMs: number;
  /** Clicked items remembered per user (the `clicked` filter, excluded from the model's top k), the latest kept. CLICKED_MAX_ITEMS, default 500. */
  clickedMaxItems: number;
  /** Longest a graceful shutdown may take before the process exits anyway, ms. SHUTDOWN_TIMEOUT_MS, default 15000. */
  shutdownTimeoutMs: number;
  /** Keys accepted in the x-api-key header; empty: the API needs none. API_KEYS, comma-separated. */
  apiKeys: string[];
  serving: {
    /** How long hot item records, counters, content and trending lists are cached in process, ms. HOT_CACHE_TTL_MS, default 100; 0 only coalesces. */
    cacheTtlMs: number;
    /** Most values per cache. HOT_CACHE_MAX_ENTRIES, default 100000. */
    cacheMaxEntries: number;
  };
  scenarios: {
    /** Quiet time after a change in the pipelines directory before it is read again, ms. SCENARIO_RELOAD_DEBOUNCE_MS, default 250. */
    reloadDebounceMs: number;
    /** Items remembered per user as shown (the `shown` filter, `seen` demotion). SHOWN_MAX_ITEMS, default 500. */
    shownMaxItems: number;
    /** A user's shown items are forgotten this long after their last change, ms. SHOWN_TTL_MS, default 30 days. */
    shownTtlMs: number;
  };
  push: {
    /** Run the push loop: a campaign for each new content. PUSH_ENABLED (true|false), default false. */
    enabled: boolean;
    /** Push requests, key = userId. KAFKA_PUSH_TOPIC, default push.requests. */
    topic: string;
    /** Pause between passes of the push loop, ms. PUSH_TICK_MS, default 10000. */
    tickMs: number;
    /** Loop parameters set by PUSH_* variables (see PUSH_VARIABLES); the others keep src/push/params.ts defaults. */
    params: Partial<PushParams>;
  };
}

/** Environment variable of each push loop parameter (docs/push.md). */
export const PUSH_VARIABLES: Record<string, keyof PushParams> = {
  PUSH_DELAY_MS: 'delayMs',
  PUSH_EXPIRY_MS: 'expiryMs',
  PUSH_PILOT_SIZE: 'pilotSize',
  PUSH_OBSERVATION_MS: 'observationMs',
  PUSH_TARGET_LIFT: 'targetLift',
  PUSH_CONFIDENCE: 'confidence',
  PUSH_EXPAND_FACTOR: 'expandFactor',
  PUSH_BUDGET: 'budget',
  PUSH_CAP_WINDOW_MS: 'capWindowMs',
  PUSH_MIN_ORGANIC_CTR: 'minOrganicCtr',
  PUSH_INACTIVE_AFTER_MS: 'inactiveAfterMs',
  PUSH_RETENTION_MS: 'retentionMs',
};

function pushSettings(env: Env): Partial<PushParams> {
  const params: Partial<PushParams> = {};
  for (const [name, key] of Object.entries(PUSH_VARIABLES)) {
    const raw = optional(env, name);
    if (raw === undefined) continue;
    try {
      params[key] = checkedPushParam(key, decimal(raw, { fraction: true }));
    } catch (err) {
      const reason = (err as Error).message.replace(/^push parameter \w+ /, '').replace(/, got .*$/, '');
      throw new FreshetError('config_invalid', `${name} ${reason}, got "${raw}"`, { field: name });
    }
  }
  // The rules across parameters, told in the variables' names.
  pushParams(params, Object.fromEntries(Object.entries(PUSH_VARIABLES).map(([name, key]) => [key, name])));
  return params;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (raw !== 'true' && raw !== 'false') {
    throw new FreshetError('config_invalid', `${name} must be true or false, got "${raw}"`, { field: name });
  }
  return raw === 'true';
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

/** The levels the logger knows, from most to least verbose, and `silent`. */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function choice(env: Env, name: string, fallback: string, allowed: readonly string[]): string {
  const value = text(env, name, fallback);
  if (!allowed.includes(value)) {
    throw new FreshetError('config_invalid', `${name} must be one of ${allowed.join(', ')}, got "${value}"`, { field: name });
  }
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = decimal(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new FreshetError('config_invalid', `${name} must be an integer from ${min} to ${max}, got "${raw}"`, {
      field: name,
    });
  }
  return value;
}

/** Comma-separated API keys: 16 to 256 printable characters each, no spaces or commas. */
function apiKeys(env: Env): string[] {
  const keys = (optional(env, 'API_KEYS') ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '');
  keys.forEach((key, i) => {
    if (!/^[\x21-\x7e]{16,256}$/.test(key)) {
      throw new FreshetError('config_invalid', `API_KEYS entry ${i + 1} must have 16 to 256 printable characters without spaces`, {
        field: 'API_KEYS',
      });
    }
  });
  return keys;
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
  // Settings of the approximate cluster index that exact bound scanning replaced: said, not ignored.
  for (const name of ['INDEX_CLUSTER_PROBES', 'INDEX_CLUSTER_MIN_ITEMS']) {
    if (optional(env, name) !== undefined) {
      throw new FreshetError('config_invalid', `${name} is no longer read: recommendations are exact; INDEX_BOUND_MIN_ITEMS sets when the bound index is used`, {
        field: name,
      });
    }
  }

  return {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: text(env, 'HOST', '0.0.0.0'),
    logLevel: choice(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
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
            sessionTimeoutMs: integer(env, 'KAFKA_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
            maxBytesPerPartition: integer(env, 'KAFKA_MAX_BYTES_PER_PARTITION', 2 * 2 ** 20, 1024, 2 ** 30),
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
      maxEvents: integer(env, 'BATCH_MAX_EVENTS', 10_000, 1, 100_000),
      maxMs: integer(env, 'BATCH_MAX_MS', 50, 1, 60_000),
      concurrency: integer(env, 'BATCH_CONCURRENCY', 4, 1, 1000),
    },
    maxPendingEvents: integer(env, 'MAX_PENDING_EVENTS', 100_000, 1, 100_000_000),
    maxFutureMs: integer(env, 'MAX_EVENT_FUTURE_MS', 300_000, 0, 365 * 86_400_000),
    analytics: {
      flushMs: integer(env, 'ANALYTICS_FLUSH_MS', 5000, 10, 600_000),
      maxPending: integer(env, 'ANALYTICS_MAX_PENDING', 5000, 1, 10_000_000),
    },
    indexMaxStalenessMs: integer(env, 'INDEX_MAX_STALENESS_MS', 100, 0, 600_000),
    indexBoundMinItems: integer(env, 'INDEX_BOUND_MIN_ITEMS', 20_000, 1, 1_000_000_000),
    userTtlMs: integer(env, 'USER_TTL_MS', 90 * 86_400_000, 0, 10 * 365 * 86_400_000),
    itemTtlMs: integer(env, 'ITEM_TTL_MS', 30 * 86_400_000, 0, 10 * 365 * 86_400_000),
    clickedMaxItems: integer(env, 'CLICKED_MAX_ITEMS', CLICKED_MAX_ITEMS, 1, 100_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
    apiKeys: apiKeys(env),
    serving: {
      cacheTtlMs: integer(env, 'HOT_CACHE_TTL_MS', 100, 0, 60_000),
      cacheMaxEntries: integer(env, 'HOT_CACHE_MAX_ENTRIES', 100_000, 1, 10_000_000),
    },
    scenarios: {
      reloadDebounceMs: integer(env, 'SCENARIO_RELOAD_DEBOUNCE_MS', 250, 0, 60_000),
      shownMaxItems: integer(env, 'SHOWN_MAX_ITEMS', 500, 1, 100_000),
      shownTtlMs: integer(env, 'SHOWN_TTL_MS', 30 * 86_400_000, 60_000, 365 * 86_400_000),
    },
    push: {
      enabled: flag(env, 'PUSH_ENABLED', false),
      topic: text(env, 'KAFKA_PUSH_TOPIC', 'push.requests'),
      tickMs: integer(env, 'PUSH_TICK_MS', 10_000, 100, 3_600_000),
      params: pushSettings(env),
    },
  };
}
