import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric freshet exports, created once per registry so that tests can
 * build many engines side by side. Labels come from bounded sets only: never a
 * user or item id.
 */
export function createMetrics(registry: Registry = new Registry(), withDefaults = true) {
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'freshet_' });
  const registers = [registry];
  return {
    registry,
    eventsConsumed: new Counter({
      name: 'freshet_events_consumed_total',
      help: 'Valid events applied to the model, by event type.',
      labelNames: ['type'] as const,
      registers,
    }),
    eventsRejected: new Counter({
      name: 'freshet_events_rejected_total',
      help: 'Events rejected by validation, by offending field.',
      labelNames: ['field'] as const,
      registers,
    }),
    eventsSkipped: new Counter({
      name: 'freshet_events_skipped_total',
      help: 'Events not applied again: already applied (offset) or a duplicate eventId.',
      labelNames: ['reason'] as const,
      registers,
    }),
    batchEvents: new Histogram({
      name: 'freshet_batch_events',
      help: 'Events per applied batch.',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'freshet_batch_duration_seconds',
      help: 'Time to apply one batch, by stage (load, model, commit).',
      labelNames: ['stage'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    commitsFenced: new Counter({
      name: 'freshet_commits_fenced_total',
      help: 'Batches refused because another owner advanced the partition.',
      registers,
    }),
    analyticsFlushSeconds: new Histogram({
      name: 'freshet_analytics_flush_duration_seconds',
      help: 'Time to write pending aggregates to the analytics store.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
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
    storeErrors: new Counter({
      name: 'freshet_state_errors_total',
      help: 'Failed state store operations (retried).',
      labelNames: ['operation'] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: 'freshet_dead_letters_total',
      help: 'Messages written to the dead-letter topic.',
      registers,
    }),
    eventLagSeconds: new Gauge({
      name: 'freshet_event_time_lag_seconds',
      help: 'Wall clock minus the event time of the last applied event.',
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
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    indexItems: new Gauge({
      name: 'freshet_index_items',
      help: 'Items in the in-process scoring index.',
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
