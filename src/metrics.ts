import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { INTERACTION_TYPES } from './events/schema.ts';

/** Stages of applying one batch; each is timed and its failures counted. */
export const BATCH_STAGES = ['dead_letter', 'load', 'model', 'commit'] as const;
export type BatchStage = (typeof BATCH_STAGES)[number];

/** Phases of a push campaign, as src/push/metrics.ts maps the state machine onto them. */
export const CAMPAIGN_STATES = ['scheduled', 'pilot', 'observing', 'expanding', 'stopped'] as const;

/** Users with history ("warm") and without ("cold", served trending items). */
export const QUALITY_COHORTS = ['warm', 'cold'] as const;

const SECONDS_FAST = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const SECONDS_SLOW = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Every metric freshet exports, created once per registry so that tests can
 * build many engines side by side. Labels come from bounded sets only: never a
 * user or item id. Label values of closed sets start at zero, so that a
 * dashboard shows 0 rather than no data before the first occurrence.
 */
export function createMetrics(registry: Registry = new Registry(), withDefaults = true) {
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'freshet_' });
  const registers = [registry];
  const metrics = {
    registry,
    eventsConsumed: new Counter({
      name: 'freshet_events_consumed_total',
      help: 'Valid events applied to the model, by event type.',
      labelNames: ['type'] as const,
      registers,
    }),
    eventsRejected: new Counter({
      name: 'freshet_events_rejected_total',
      help: 'Events rejected by validation (HTTP or stream), by the offending field ($: the whole message).',
      labelNames: ['field'] as const,
      registers,
    }),
    eventsSkipped: new Counter({
      name: 'freshet_events_skipped_total',
      help: 'Events not applied again: already applied (offset) or a duplicate eventId.',
      labelNames: ['reason'] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: 'freshet_dead_letters_total',
      help: 'Messages written to the dead-letter sink.',
      registers,
    }),
    batchEvents: new Histogram({
      name: 'freshet_batch_events',
      help: 'Valid events per applied batch.',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'freshet_batch_duration_seconds',
      help: 'Time of one batch stage: dead_letter (send rejects), load (read state), model (update), commit (write state).',
      labelNames: ['stage'] as const,
      buckets: SECONDS_FAST,
      registers,
    }),
    batchErrors: new Counter({
      name: 'freshet_batch_errors_total',
      help: 'Failed batch stages; the batch is retried with backoff.',
      labelNames: ['stage'] as const,
      registers,
    }),
    commitsFenced: new Counter({
      name: 'freshet_commits_fenced_total',
      help: 'Batches refused because another owner advanced the partition.',
      registers,
    }),
    eventLagSeconds: new Gauge({
      name: 'freshet_event_time_lag_seconds',
      help: 'Wall clock minus the event time of the last applied event.',
      registers,
    }),
    consumerLag: new Gauge({
      name: 'freshet_kafka_consumer_lag_messages',
      help: 'Messages of an assigned partition not yet applied: high watermark minus next offset.',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    analyticsFlushSeconds: new Histogram({
      name: 'freshet_analytics_flush_duration_seconds',
      help: 'Time to write pending aggregates to the analytics store.',
      buckets: SECONDS_SLOW,
      registers,
    }),
    analyticsFlushErrors: new Counter({
      name: 'freshet_analytics_flush_errors_total',
      help: 'Failed writes to the analytics store (retried).',
      registers,
    }),
    analyticsPending: new Gauge({
      name: 'freshet_analytics_pending_batches',
      help: 'Batches of aggregates waiting for the analytics store.',
      registers,
    }),
    httpRequests: new Counter({
      name: 'freshet_http_requests_total',
      help: 'API requests by route template and status class.',
      labelNames: ['route', 'status'] as const,
      registers,
    }),
    httpSeconds: new Histogram({
      name: 'freshet_http_request_duration_seconds',
      help: 'API request duration by route template.',
      labelNames: ['route'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    indexItems: new Gauge({
      name: 'freshet_index_items',
      help: 'Items in the in-process scoring index.',
      registers,
    }),
    indexUnplaced: new Gauge({
      name: 'freshet_index_unplaced_items',
      help: 'Items added since the index cells were laid out: scored for every request, until the next layout.',
      registers,
    }),
    indexChanged: new Gauge({
      name: 'freshet_index_changed_items',
      help: 'Item changes read by the index since the vectors of its serving layout were taken (0 while no layout serves); the next lookup 30 s or more after that layout starts a new one.',
      registers,
    }),
    indexLayoutPause: new Histogram({
      name: 'freshet_index_layout_pause_seconds',
      help: 'Time the serving thread is held by a new layout taking over (the copy of every vector into cell order).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    }),
    indexLookups: new Counter({
      name: 'freshet_index_lookups_total',
      help: 'Reads of the in-process item index: hit (fresh enough) or refresh (read changes first).',
      labelNames: ['result'] as const,
      registers,
    }),
    campaigns: new Gauge({
      name: 'freshet_campaigns',
      help: 'Push campaigns by state.',
      labelNames: ['state'] as const,
      registers,
    }),
    campaignLift: new Gauge({
      name: 'freshet_campaign_lift_ratio',
      help: 'Observed over expected clicks, pooled over the campaigns in each state.',
      labelNames: ['state'] as const,
      registers,
    }),
    qualitySamples: new Counter({
      name: 'freshet_prequential_samples_total',
      help: 'Sampled positive events checked against the top-k served just before them.',
      labelNames: ['cohort'] as const,
      registers,
    }),
    qualityHits: new Counter({
      name: 'freshet_prequential_hits_total',
      help: 'Sampled positive events whose item was in the top-k served just before them.',
      labelNames: ['cohort'] as const,
      registers,
    }),
    qualityErrors: new Counter({
      name: 'freshet_prequential_errors_total',
      help: 'Quality samples that could not be scored (state store unavailable).',
      registers,
    }),
  };

  for (const type of INTERACTION_TYPES) metrics.eventsConsumed.inc({ type }, 0);
  for (const reason of ['offset', 'duplicate']) metrics.eventsSkipped.inc({ reason }, 0);
  for (const stage of BATCH_STAGES) {
    metrics.batchSeconds.zero({ stage });
    metrics.batchErrors.inc({ stage }, 0);
  }
  for (const result of ['hit', 'refresh']) metrics.indexLookups.inc({ result }, 0);
  // Zero until the push loop reports its campaigns (src/push/metrics.ts).
  for (const state of CAMPAIGN_STATES) {
    metrics.campaigns.set({ state }, 0);
    metrics.campaignLift.set({ state }, 0);
  }
  for (const cohort of QUALITY_COHORTS) {
    metrics.qualitySamples.inc({ cohort }, 0);
    metrics.qualityHits.inc({ cohort }, 0);
  }
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Runs one batch stage: its duration is observed, and a failure counted before it is rethrown. */
export async function timeStage<T>(
  metrics: Pick<Metrics, 'batchSeconds' | 'batchErrors'>,
  stage: BatchStage,
  work: () => T | Promise<T>,
): Promise<T> {
  const end = metrics.batchSeconds.startTimer({ stage });
  try {
    return await work();
  } catch (err) {
    metrics.batchErrors.inc({ stage });
    throw err;
  } finally {
    end();
  }
}
