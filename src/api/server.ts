import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { randomUUID } from 'node:crypto';
import { validateInteraction, type InteractionEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Recommender } from '../serve/recommender.ts';

/** Where accepted events go: the embedded pipeline, or the Kafka events topic. */
export interface EventIntake {
  /** Resolves when the events are durable (applied, or acknowledged by Kafka). */
  submit(events: InteractionEvent[]): Promise<void>;
  /** True when taking `count` more events would exceed the input bound. */
  full(count: number): boolean;
}

export interface ApiOptions {
  recommender: Recommender;
  intake: EventIntake;
  metrics: Metrics;
  logger: Logger;
  /** Readiness: every dependency answers. */
  ready(): Promise<boolean>;
  maxK?: number;
  bodyLimitBytes?: number;
}

interface RejectedEvent {
  index: number;
  field: string;
  reason: string;
}

function badRequest(reply: FastifyReply, field: string, message: string) {
  return reply.code(400).send({ error: { code: 'request_invalid', field, message } });
}

function readK(raw: unknown, max: number): number | string {
  if (raw === undefined) return 10;
  const k = Number(raw);
  return Number.isInteger(k) && k >= 1 && k <= max ? k : `k must be an integer from 1 to ${max}`;
}

/** Splits a body of a JSON array, one JSON object, or NDJSON lines into elements. */
function parseEventsBody(body: string): unknown[] | string {
  const text = body.trim();
  if (text === '') return [];
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      return Array.isArray(parsed) ? parsed : 'body must be a JSON array, a JSON object or NDJSON';
    } catch {
      return 'body is not valid JSON';
    }
  }
  return text.split('\n').map((line) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      return { __invalidJson: true };
    }
  });
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const { recommender, intake, metrics } = options;
  const maxK = options.maxK ?? 100;
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 32 * 1024 * 1024,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ route, status: `${Math.floor(reply.statusCode / 100)}xx` });
    metrics.httpSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error, reqId: request.id }, 'request failed');
    return reply.code(status).send({
      error: { code: status >= 500 ? 'internal' : 'request_invalid', message: error.message },
    });
  });

  app.get<{ Params: { userId: string }; Querystring: { k?: string } }>(
    '/v1/users/:userId/recommendations',
    async (request, reply) => {
      const k = readK(request.query.k, maxK);
      if (typeof k === 'string') return badRequest(reply, 'k', k);
      const result = await recommender.recommend(request.params.userId, k);
      return {
        userId: request.params.userId,
        coldStart: result.coldStart,
        items: result.items.map((s) => ({ itemId: s.id, score: s.score })),
      };
    },
  );

  app.get<{ Params: { itemId: string }; Querystring: { k?: string } }>(
    '/v1/items/:itemId/similar',
    async (request, reply) => {
      const k = readK(request.query.k, maxK);
      if (typeof k === 'string') return badRequest(reply, 'k', k);
      const items = await recommender.similar(request.params.itemId, k);
      if (items === undefined) {
        return reply.code(404).send({ error: { code: 'not_found', field: 'itemId', message: 'unknown item' } });
      }
      return { itemId: request.params.itemId, items: items.map((s) => ({ itemId: s.id, score: s.score })) };
    },
  );

  app.get<{ Params: { itemId: string } }>('/v1/items/:itemId/stats', async (request, reply) => {
    const stats = await recommender.stats(request.params.itemId);
    if (stats === undefined) {
      return reply.code(404).send({ error: { code: 'not_found', field: 'itemId', message: 'unknown item' } });
    }
    return stats;
  });

  app.post('/v1/events', async (request, reply) => {
    if (typeof request.body !== 'string') return badRequest(reply, 'body', 'body is required');
    const elements = parseEventsBody(request.body);
    if (typeof elements === 'string') return badRequest(reply, 'body', elements);

    const accepted: InteractionEvent[] = [];
    const errors: RejectedEvent[] = [];
    elements.forEach((element, index) => {
      if (typeof element === 'object' && element !== null && '__invalidJson' in element) {
        errors.push({ index, field: '$', reason: 'line is not valid JSON' });
        return;
      }
      const result = validateInteraction(element);
      if (result.ok) accepted.push(result.value);
      else errors.push({ index, field: result.field, reason: result.reason });
    });
    for (const e of errors) metrics.eventsRejected.inc({ field: e.field });

    if (intake.full(accepted.length)) {
      return reply.code(503).header('retry-after', '1').send({
        error: { code: 'overloaded', message: 'the input queue is full; retry later' },
      });
    }
    await intake.submit(accepted);
    return { accepted: accepted.length, rejected: errors.length, errors };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await options.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });

  return app;
}
