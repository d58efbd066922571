/**
 * `freshet replay`: streams a data set's interaction events, in event-time order, into a running
 * freshet over HTTP (NDJSON to /v1/events) or into Kafka.
 */
import { Kafka, Partitioners, logLevel, type LogEntry } from 'kafkajs';
import type { Command } from '../cli.ts';
import { loadConfig } from '../config/env.ts';
import { FreshetError } from '../errors.ts';
import type { InteractionEvent } from '../events/schema.ts';
import { createProgress, type Progress } from '../progress.ts';
import { backoffMs as backoff } from '../retry.ts';
import {
  DATASET_FORMATS,
  defaultDatasetPath,
  readBrunch,
  readMind,
  readMovieLens,
  type DatasetFormat,
} from '../sources/datasets.ts';

export interface EventSink {
  send(events: InteractionEvent[]): Promise<void>;
  close(): Promise<void>;
}

type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export const sleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const finish = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, Math.max(0, ms));
    signal?.addEventListener('abort', finish, { once: true });
  });

// ---------------------------------------------------------------- pacing

export interface Pacer {
  /** Waits until `n` tokens are available (or `signal` aborts), then spends them. */
  take(n: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Token bucket: `rate` tokens per second, at most `burst` saved up. Starts empty, so n tokens
 * take n/rate seconds from creation and the average holds from the first batch.
 */
export function createPacer(
  rate: number,
  burst: number,
  clock: { now?: () => number; sleep?: Sleep } = {},
): Pacer {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError('rate must be a positive number');
  const now = clock.now ?? (() => performance.now());
  const wait = clock.sleep ?? sleep;
  let tokens = 0;
  let last = now();
  const refill = (): void => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) * rate) / 1000);
    last = t;
  };
  return {
    async take(n, signal) {
      refill();
      if (tokens < n) {
        await wait(((n - tokens) * 1000) / rate, signal);
        refill();
      }
      tokens -= n;
    },
  };
}

// ---------------------------------------------------------------- core loop

export interface ReplayOptions {
  /** Events per send. Default 500; with `rate`, at most one second's worth. */
  batchSize?: number;
  /** Average events per second; unlimited when omitted. */
  rate?: number;
  /** When aborted, the batch in flight completes and nothing more is sent. */
  signal?: AbortSignal;
  /** Called after each batch is sent with its size and the running total. */
  onBatch?: (size: number, sent: number) => void;
  now?: () => number;
  sleep?: Sleep;
}

export interface ReplayResult {
  sent: number;
  batches: number;
  elapsedMs: number;
  /** The signal stopped the replay before the source ran out. */
  stopped: boolean;
}

/** Sends the source's events to the sink in batches, paced to `rate`. Does not close the sink. */
export async function replayEvents(
  source: AsyncIterable<InteractionEvent> | Iterable<InteractionEvent>,
  sink: EventSink,
  opts: ReplayOptions = {},
): Promise<ReplayResult> {
  const now = opts.now ?? (() => performance.now());
  const signal = opts.signal;
  let batchSize = opts.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError('batchSize must be a positive integer');
  }
  let pacer: Pacer | undefined;
  if (opts.rate !== undefined) {
    batchSize = Math.min(batchSize, Math.max(1, Math.floor(opts.rate)));
    pacer = createPacer(opts.rate, batchSize, { now, sleep: opts.sleep ?? sleep });
  }
  const started = now();
  const stopped = (): boolean => signal?.aborted === true;
  let sent = 0;
  let batches = 0;

  const flush = async (batch: InteractionEvent[]): Promise<void> => {
    if (pacer !== undefined) await pacer.take(batch.length, signal);
    if (stopped()) return;
    await sink.send(batch);
    sent += batch.length;
    batches++;
    opts.onBatch?.(batch.length, sent);
  };

  if (!stopped()) {
    let batch: InteractionEvent[] = [];
    for await (const event of source) {
      batch.push(event);
      if (batch.length < batchSize) continue;
      await flush(batch);
      batch = [];
      if (stopped()) break;
    }
    if (batch.length > 0 && !stopped()) await flush(batch);
  }
  return { sent, batches, elapsedMs: now() - started, stopped: stopped() };
}

// ---------------------------------------------------------------- HTTP sink

export interface IndexedRejection {
  /** Position of the event in the whole replay (0-based). */
  index: number;
  field: string;
  reason: string;
}

export interface IngestTotals {
  accepted: number;
  rejected: number;
  /** The first `maxErrors` rejections. */
  errors: IndexedRejection[];
}

export interface HttpSinkOptions {
  /** Base URL of the freshet API; events go to `${url}/v1/events`. */
  url: string;
  /** Retries of a failed POST (network error, timeout, 408, 429, 5xx). Default 5. */
  retries?: number;
  /** First backoff, doubled per retry up to 10 s (or Retry-After, up to 30 s). Default 250 ms. */
  backoffMs?: number;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
  /** Rejections kept in `totals.errors`. Default 20. */
  maxErrors?: number;
  fetch?: typeof fetch;
  sleep?: Sleep;
}

export interface HttpSink extends EventSink {
  readonly totals: IngestTotals;
}

interface IngestResponse {
  accepted: number;
  rejected: number;
  errors: { index: number; field: string; reason: string }[];
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function parseIngestResponse(text: string): IngestResponse | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const { accepted, rejected, errors } = body as Record<string, unknown>;
  if (!isCount(accepted) || !isCount(rejected)) return undefined;
  const list = Array.isArray(errors) ? errors : [];
  return {
    accepted,
    rejected,
    errors: list.map((e: unknown) => {
      const r = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
      return {
        index: isCount(r.index) ? r.index : -1,
        field: typeof r.field === 'string' ? r.field : '$',
        reason: typeof r.reason === 'string' ? r.reason : 'rejected',
      };
    }),
  };
}

function describeFailure(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause === undefined ? e.message : `${e.message} (${cause})`;
}

/** POSTs each batch as NDJSON and sums the API's accepted/rejected answers. */
export function httpSink(opts: HttpSinkOptions): HttpSink {
  const endpoint = `${opts.url.replace(/\/+$/, '')}/v1/events`;
  const retries = opts.retries ?? 5;
  const backoffMs = opts.backoffMs ?? 250;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxErrors = opts.maxErrors ?? 20;
  const doFetch = opts.fetch ?? fetch;
  const wait = opts.sleep ?? sleep;
  const totals: IngestTotals = { accepted: 0, rejected: 0, errors: [] };
  let offset = 0;

  const record = (answer: IngestResponse, size: number): void => {
    totals.accepted += answer.accepted;
    totals.rejected += answer.rejected;
    for (const e of answer.errors) {
      if (totals.errors.length >= maxErrors) break;
      totals.errors.push({ ...e, index: e.index < 0 ? -1 : offset + e.index });
    }
    offset += size;
  };

  return {
    totals,
    async send(events) {
      const body = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
      for (let attempt = 0; ; attempt++) {
        let problem: string;
        let retryAfterMs = 0;
        try {
          const res = await doFetch(endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body,
            signal: AbortSignal.timeout(timeoutMs),
          });
          const text = await res.text();
          if (res.status >= 500 || res.status === 408 || res.status === 429) {
            problem = `HTTP ${res.status}`;
            retryAfterMs = Math.min(30, Number(res.headers.get('retry-after')) || 0) * 1000;
          } else {
            const answer = parseIngestResponse(text);
            if (answer === undefined) {
              throw new FreshetError(
                'request_invalid',
                `POST ${endpoint} answered HTTP ${res.status}: ${text.slice(0, 200)}`,
              );
            }
            record(answer, events.length);
            return;
          }
        } catch (err) {
          if (err instanceof FreshetError) throw err;
          problem = describeFailure(err);
        }
        if (attempt >= retries) {
          throw new FreshetError(
            'store_unavailable',
            `POST ${endpoint} failed ${attempt + 1} times, last: ${problem}`,
            { retryable: true },
          );
        }
        await wait(Math.max(retryAfterMs, backoff(attempt + 1, backoffMs, 10_000)));
      }
    },
    async close() {},
  };
}

// ---------------------------------------------------------------- Kafka sink

export interface KafkaSinkOptions {
  brokers: string[];
  topic: string;
  clientId?: string;
  /** Receives kafkajs log lines at `error` level (or `logLevel`); silent when omitted. */
  log?: (line: string) => void;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

const KAFKA_LEVELS = {
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

/**
 * Produces each batch to `topic` with acks=-1, key = userId, value = the event's JSON. Connects
 * on the first send; `close` disconnects. Failures surface as FreshetError store_unavailable.
 */
export function kafkaSink(opts: KafkaSinkOptions): EventSink {
  const log = opts.log;
  const kafka = new Kafka({
    clientId: opts.clientId ?? 'freshet-replay',
    brokers: opts.brokers,
    logLevel: log === undefined ? logLevel.NOTHING : KAFKA_LEVELS[opts.logLevel ?? 'error'],
    logCreator:
      () =>
      ({ namespace, log: entry }: LogEntry) => {
        const detail = typeof entry.error === 'string' ? ` (${entry.error})` : '';
        log?.(`kafkajs ${namespace}: ${entry.message}${detail}`);
      },
  });
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: true,
  });
  let connected: Promise<void> | undefined;

  return {
    async send(events) {
      try {
        await (connected ??= producer.connect());
        await producer.send({
          topic: opts.topic,
          acks: -1,
          messages: events.map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
        });
      } catch (err) {
        const message = `kafka produce to ${opts.topic} failed: ${describeFailure(err)}`;
        throw new FreshetError('store_unavailable', message, { cause: err, retryable: true });
      }
    },
    async close() {
      if (connected === undefined) return;
      await connected.catch(() => undefined);
      await producer.disconnect();
    },
  };
}

// ---------------------------------------------------------------- command

const USAGE = `usage: freshet replay --format movielens|mind|brunch [options]

  --format F       data set format (required)
  --file PATH      data file (brunch: a read/ directory or one hour file);
                   default: the shared data set under FRESHET_DATASETS_DIR or ../shared/datasets
  --limit N        replay only the earliest N ratings (movielens), impressions (mind)
                   or reads (brunch)
  --to http|kafka  default kafka when KAFKA_BROKERS is set or --brokers given, else http
  --url URL        freshet API base URL (http), default http://127.0.0.1:8080
  --topic NAME     Kafka topic, default KAFKA_EVENTS_TOPIC or "events"
  --brokers LIST   comma-separated host:port, overrides KAFKA_BROKERS
  --rate N         average events per second (default: as fast as possible);
                   batches shrink to at most N events
  --batch N        events per POST / produce request, default 500`;

class UsageError extends Error {}

function positiveInt(value: unknown, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} must be an integer >= ${min}, got "${String(value)}"`);
  }
  return n;
}

function stringOption(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

interface ReplayPlan {
  format: DatasetFormat;
  path: string;
  limit: number | undefined;
  batch: number;
  rate: number | undefined;
  to: 'http' | 'kafka';
  url: string;
  brokers: string[];
  topic: string;
}

function plan(values: Record<string, unknown>, positionals: string[]): ReplayPlan {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const format = stringOption(values.format);
  if (format === undefined || !(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${DATASET_FORMATS.join(', ')}`);
  }
  const rateText = stringOption(values.rate);
  const rate = rateText === undefined ? undefined : Number(rateText);
  if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) {
    throw new UsageError(`--rate must be a positive number, got "${rateText}"`);
  }
  const config = loadConfig();
  const brokersText = stringOption(values.brokers);
  const brokers =
    brokersText?.split(',').map((b) => b.trim()).filter((b) => b !== '') ??
    config.kafka?.brokers ??
    [];
  for (const b of brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b)) throw new UsageError(`--brokers entries must be host:port`);
  }
  const to = stringOption(values.to) ?? (brokers.length > 0 ? 'kafka' : 'http');
  if (to !== 'http' && to !== 'kafka') throw new UsageError('--to must be http or kafka');
  if (to === 'kafka' && brokers.length === 0) {
    throw new UsageError('--to kafka needs --brokers or KAFKA_BROKERS');
  }
  const url = stringOption(values.url) ?? 'http://127.0.0.1:8080';
  if (!/^https?:\/\//.test(url) || !URL.canParse(url)) {
    throw new UsageError(`--url must be an http(s) URL, got "${url}"`);
  }
  return {
    format: format as DatasetFormat,
    path: stringOption(values.file) ?? defaultDatasetPath(format as DatasetFormat),
    limit: positiveInt(values.limit, '--limit', 0),
    batch: positiveInt(values.batch, '--batch', 1) ?? 500,
    rate,
    to,
    url,
    brokers,
    topic: stringOption(values.topic) ?? config.kafka?.eventsTopic ?? 'events',
  };
}

async function openSource(
  p: ReplayPlan,
): Promise<{ source: AsyncIterable<InteractionEvent> | InteractionEvent[]; total?: number }> {
  switch (p.format) {
    case 'movielens': {
      const all = await readMovieLens(p.path, { limit: p.limit });
      return { source: all, total: all.length };
    }
    case 'mind': {
      const all = await readMind(p.path, { limit: p.limit });
      return { source: all, total: all.length };
    }
    case 'brunch': {
      const source = readBrunch(p.path, { limit: p.limit });
      return p.limit === undefined ? { source } : { source, total: p.limit };
    }
  }
}

function summary(p: ReplayPlan, sent: number, seconds: number, sink: EventSink): string {
  const rate = seconds > 0 ? Math.round(sent / seconds) : 0;
  let line = `replay ${p.format} -> ${p.to}: sent ${sent} events in ${seconds.toFixed(2)} s ` +
    `(${rate} events/s)`;
  if ('totals' in sink) {
    const { accepted, rejected } = (sink as HttpSink).totals;
    line += `, accepted ${accepted}, rejected ${rejected}`;
  }
  return line;
}

async function run(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  let p: ReplayPlan;
  try {
    p = plan(values, positionals);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`freshet replay: ${err.message}\n${USAGE}\n`);
    return 2;
  }

  const controller = new AbortController();
  let exitCode = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    const code = sig === 'SIGINT' ? 130 : 143;
    if (controller.signal.aborted) process.exit(code);
    exitCode = code;
    process.stderr.write(`\nfreshet replay: ${sig}, stopping after the current batch\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let progress: Progress | undefined;
  let sink: EventSink | undefined;
  let sent = 0;
  let started = performance.now();
  let failure: unknown;
  try {
    const { source, total } = await openSource(p);
    const label = `replay ${p.format}`;
    progress = createProgress(total === undefined ? { label } : { label, total });
    sink =
      p.to === 'http'
        ? httpSink({ url: p.url })
        : kafkaSink({
            brokers: p.brokers,
            topic: p.topic,
            log: (line) => process.stderr.write(`${line}\n`),
          });
    started = performance.now();
    const result = await replayEvents(source, sink, {
      batchSize: p.batch,
      ...(p.rate === undefined ? {} : { rate: p.rate }),
      signal: controller.signal,
      onBatch: (size) => progress?.tick(size),
    });
    sent = result.sent;
  } catch (err) {
    failure = err;
    sent = progress?.count ?? 0;
  } finally {
    progress?.done();
    try {
      await sink?.close();
    } catch (err) {
      failure ??= err;
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (sink !== undefined) {
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`${summary(p, sent, seconds, sink)}\n`);
    if ('totals' in sink) {
      for (const e of (sink as HttpSink).totals.errors.slice(0, 5)) {
        process.stderr.write(`rejected event #${e.index}: ${e.field}: ${e.reason}\n`);
      }
    }
  }
  if (failure !== undefined) throw failure;
  return exitCode;
}

export const command: Command = {
  summary: 'Replay a data set (MovieLens, MIND, Kakao brunch) into freshet over HTTP or Kafka.',
  usage: USAGE,
  options: {
    format: { type: 'string' },
    file: { type: 'string' },
    limit: { type: 'string' },
    to: { type: 'string' },
    url: { type: 'string' },
    topic: { type: 'string' },
    brokers: { type: 'string' },
    rate: { type: 'string' },
    batch: { type: 'string' },
  },
  run,
};
