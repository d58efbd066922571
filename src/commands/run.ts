import type { Command } from '../cli.ts';
import { loadConfig } from '../config/env.ts';
import { createEngine, type Engine } from '../engine.ts';
import { FreshetError } from '../errors.ts';
import type { InteractionEvent } from '../events/schema.ts';
import { createLogger, routeProcessWarnings, type Logger } from '../log.ts';
import { createProgress } from '../progress.ts';
import { DATASET_FORMATS, events, type DatasetFormat } from '../sources/datasets.ts';

const SUBMIT_BATCH = 1000;
/** How long a stopped engine waits for the event loop to empty before it exits anyway, ms. */
const LINGER_AFTER_STOP_MS = 1_000;

async function replayInto(engine: Engine, format: DatasetFormat, path: string, limit: number | undefined, logger: Logger) {
  const source = engine.embedded;
  if (source === undefined) {
    throw new FreshetError('config_invalid', '--replay feeds the embedded input; with KAFKA_BROKERS set use `freshet replay --to kafka`', {
      field: 'replay',
    });
  }
  const progress = createProgress({ label: 'replay' });
  let batch: InteractionEvent[] = [];
  let count = 0;
  for await (const event of events(format, path, { limit })) {
    batch.push(event);
    if (batch.length >= SUBMIT_BATCH) {
      await source.submit(batch);
      progress.tick(batch.length);
      count += batch.length;
      batch = [];
    }
  }
  await source.submit(batch);
  progress.tick(batch.length);
  progress.done();
  logger.info({ events: count + batch.length, format, path }, 'replay applied');
}

export const command: Command = {
  summary: 'Consume events, learn, and serve the lookup API.',
  usage: [
    'usage: freshet run [--replay FILE --format movielens|mind|brunch] [--limit N]',
    '',
    'Reads configuration from the environment (see README). Without KAFKA_BROKERS, REDIS_URL and',
    'CLICKHOUSE_URL it runs embedded: state in process, events from POST /v1/events and --replay,',
    'contents from POST /v1/contents.',
  ].join('\n'),
  options: {
    replay: { type: 'string' },
    format: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(values) {
    const config = loadConfig();
    const logger = createLogger(config.logLevel);
    routeProcessWarnings(logger);
    const replay = values.replay as string | undefined;
    const format = (values.format as string | undefined) ?? 'movielens';
    if (!(DATASET_FORMATS as readonly string[]).includes(format)) {
      throw new FreshetError('config_invalid', `--format must be one of ${DATASET_FORMATS.join(', ')}`, { field: 'format' });
    }
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0)) {
      throw new FreshetError('config_invalid', '--limit must be a positive integer', { field: 'limit' });
    }

    const engine = createEngine(config, logger);

    let stopping: Promise<void> | undefined;
    const shutdown = (signal: string) => {
      stopping ??= (async () => {
        logger.info({ signal }, 'shutting down');
        const timer = setTimeout(() => {
          logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
          process.exit(1);
        }, config.shutdownTimeoutMs);
        timer.unref();
        try {
          await engine.stop();
        } catch (err) {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        }
        clearTimeout(timer);
        logger.info('stopped');
        // Everything is committed and closed. kafkajs may still hold a socket it opened while
        // reconnecting after a broker restart (its disconnect misses it): don't wait on it.
        setTimeout(() => {
          const handles = process.getActiveResourcesInfo();
          logger.debug({ handles }, 'handles still open after stop; exiting');
          process.exit(process.exitCode ?? 0);
        }, LINGER_AFTER_STOP_MS).unref();
      })();
      return stopping;
    };
    // Taken before the start: the flusher and the consumer run before the API listens, and a
    // signal meanwhile would otherwise end the process at once. The stop waits for the start.
    const finished = new Promise<void>((resolve) => {
      process.once('SIGTERM', () => void shutdown('SIGTERM').then(resolve));
      process.once('SIGINT', () => void shutdown('SIGINT').then(resolve));
    });

    let address: string | undefined;
    try {
      address = await engine.start();
    } catch (err) {
      // A start cut short by a signal is not an error: the stop it made goes on.
      if (stopping === undefined) throw err;
    }
    if (stopping !== undefined) {
      await finished;
      return 0;
    }
    logger.info(
      {
        address,
        mode: config.kafka ? 'kafka' : 'embedded',
        state: engine.store.kind,
        analytics: engine.sink.kind,
        dimensions: engine.model.params.dimensions,
      },
      'freshet is running',
    );

    if (replay !== undefined) {
      try {
        await replayInto(engine, format as DatasetFormat, replay, limit, logger);
      } catch (err) {
        await shutdown('replay failed');
        throw err;
      }
    }
    await finished;
    return 0;
  },
};
