import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tooFarAhead, validateContent, validateInteraction, type Validated } from '../../events/schema.ts';
import type { Metrics } from '../../metrics.ts';
import type { ApiContext, Intake } from '../context.ts';
import { errorSchema, objectSchema } from '../schemas.ts';

interface RejectedEvent {
  index: number;
  field: string;
  reason: string;
}

function badRequest(reply: FastifyReply, field: string, message: string) {
  return reply.code(400).send({ error: { code: 'request_invalid', field, message } });
}

/** A blank NDJSON line: no element, but its place keeps the lines' indexes. */
const BLANK = Symbol('blank line');

/**
 * Splits a body of a JSON array, one JSON object (over several lines or not), or NDJSON lines
 * into elements; an element that is not JSON is `{ __invalidJson: true }`.
 */
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
  if (text.includes('\n')) {
    // One object written over several lines, or NDJSON lines. A first line that opens an object
    // and closes nothing is no NDJSON line: such a body is one object, whole or broken.
    try {
      const parsed: unknown = JSON.parse(text);
      if (!Array.isArray(parsed)) return [parsed];
    } catch {
      if (/^\{\s*\n/.test(text)) return 'body is not valid JSON';
    }
  }
  return text.split('\n').map((line) => {
    if (line.trim() === '') return BLANK;
    try {
      return JSON.parse(line) as unknown;
    } catch {
      return { __invalidJson: true };
    }
  });
}

/**
 * Validates each element of the body, answers 400 for a body that is not JSON, 413 or 503 when
 * the valid ones do not fit the intake, and otherwise hands them over and reports each rejected
 * element by its index and field.
 */
async function take<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  intake: Intake<T>,
  metrics: Metrics,
  validate: (element: unknown) => Validated<T>,
) {
  if (typeof request.body !== 'string') return badRequest(reply, 'body', 'body is required');
  const elements = parseEventsBody(request.body);
  if (typeof elements === 'string') return badRequest(reply, 'body', elements);

  const accepted: T[] = [];
  const errors: RejectedEvent[] = [];
  elements.forEach((element, index) => {
    if (element === BLANK) return;
    if (typeof element === 'object' && element !== null && '__invalidJson' in element) {
      errors.push({ index, field: '$', reason: 'line is not valid JSON' });
      return;
    }
    const result = validate(element);
    if (result.ok) accepted.push(result.value);
    else errors.push({ index, field: result.field, reason: result.reason });
  });
  if (accepted.length > intake.maxEventsPerRequest) {
    const most = intake.maxEventsPerRequest;
    return reply.code(413).send({
      error: { code: 'request_invalid', field: 'body', message: `${accepted.length} valid events exceed the input bound of ${most} (MAX_PENDING_EVENTS): send at most ${most} a request` },
    });
  }
  if (intake.full(accepted.length)) {
    return reply
      .code(503)
      .header('retry-after', '1')
      .send({
        error: { code: 'overloaded', message: 'the input queue is full; retry later' },
      });
  }
  // Counted once the request is taken: a client that retries a 503 sends its invalid events again.
  for (const e of errors) metrics.eventsRejected.inc({ field: e.field });
  await intake.submit(accepted);
  return { accepted: accepted.length, rejected: errors.length, errors };
}

const eventSchema = {
  type: 'object',
  description: 'Event schema v1 (README, Events); unknown fields are ignored.',
  properties: {
    type: { type: 'string', enum: ['view', 'click', 'push_sent', 'push_open'] },
    userId: { type: ['string', 'integer'] },
    itemId: { type: ['string', 'integer'] },
    ts: { type: ['string', 'integer'], description: 'Epoch milliseconds or ISO-8601.' },
    eventId: { type: 'string' },
    source: { type: 'string' },
    campaignId: { type: 'string' },
    variant: {
      type: 'string',
      description: 'For scenario reports: "<scenario>/<variant>" of the answer.',
    },
  },
  required: ['type', 'userId', 'itemId', 'ts'],
};

const contentSchema = {
  type: 'object',
  description: 'A content published (README, Events); unknown fields are ignored.',
  properties: {
    itemId: { type: ['string', 'integer'] },
    publishedAt: { type: ['string', 'integer'], description: 'Epoch milliseconds or ISO-8601.' },
    category: { type: 'string' },
    title: { type: 'string' },
    ttlSeconds: { type: 'integer', minimum: 1, description: 'How long a push campaign may run for it.' },
  },
  required: ['itemId', 'publishedAt'],
};

const contentExample = { itemId: 'i1', publishedAt: '2026-12-01T09:00:00Z', category: 'news', title: 'A title' };

const example = {
  type: 'click',
  userId: 'u1',
  itemId: 'i1',
  ts: '2026-12-01T10:00:00Z',
  variant: 'home/control',
};

/** `validate`, then a refusal of a time (`field`) more than `maxFutureMs` ahead of the clock. */
function notAhead<T>(
  validate: (element: unknown) => Validated<T>,
  timeOf: (event: T) => number,
  field: string,
  maxFutureMs: number,
): (element: unknown) => Validated<T> {
  const now = Date.now();
  return (element) => {
    const result = validate(element);
    const late = result.ok ? tooFarAhead(timeOf(result.value), now, maxFutureMs, field) : undefined;
    return late === undefined ? result : { ok: false, ...late };
  };
}

/** The schema and body description of a route taking events of one kind. */
function intakeRoute(options: { operationId: string; summary: string; itemSchema: object; example: object }) {
  return {
    schema: {
      operationId: options.operationId,
      summary: options.summary,
      description:
        'Answers once the accepted events are applied (embedded) or acknowledged by Kafka. ' +
        'Invalid events are rejected one by one, naming the field; the others are taken.',
      tags: ['events'],
      response: {
        200: {
          description: 'What was accepted and what was rejected, by index in the body.',
          ...objectSchema({
            accepted: { type: 'integer' },
            rejected: { type: 'integer' },
            errors: {
              type: 'array',
              items: objectSchema({
                index: { type: 'integer' },
                field: { type: 'string' },
                reason: { type: 'string' },
              }),
            },
          }),
        },
        400: errorSchema('The body is missing or is not JSON.'),
        413: errorSchema('More valid events than the input bound (MAX_PENDING_EVENTS) holds: split the request.'),
        503: errorSchema('The input queue is full (retry after the Retry-After header), or another engine on the same state advanced the HTTP input (state_fenced: nothing applied; retry).'),
      },
    },
    config: {
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: { oneOf: [{ type: 'array', items: options.itemSchema }, options.itemSchema] },
            example: [options.example],
          },
          'application/x-ndjson': {
            schema: { type: 'string', description: 'One event per line.' },
            example: JSON.stringify(options.example),
          },
        },
      },
    },
  };
}

export function eventRoutes(app: FastifyInstance, context: ApiContext): void {
  const { intake, contents, metrics } = context;
  app.post(
    '/v1/events',
    intakeRoute({ operationId: 'submitEvents', summary: 'Submit interaction events', itemSchema: eventSchema, example }),
    async (request, reply) =>
      take(request, reply, intake, metrics, notAhead(validateInteraction, (e) => e.ts, 'ts', intake.maxFutureMs)),
  );
  if (contents === undefined) return;
  app.post(
    '/v1/contents',
    intakeRoute({
      operationId: 'submitContents',
      summary: 'Submit content-published events',
      itemSchema: contentSchema,
      example: contentExample,
    }),
    async (request, reply) =>
      take(request, reply, contents, metrics, notAhead(validateContent, (c) => c.publishedAt, 'publishedAt', intake.maxFutureMs)),
  );
}
