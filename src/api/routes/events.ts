import type { FastifyInstance, FastifyReply } from 'fastify';
import { tooFarAhead, validateInteraction, type InteractionEvent } from '../../events/schema.ts';
import type { ApiContext } from '../context.ts';
import { errorSchema, objectSchema } from '../schemas.ts';

interface RejectedEvent {
  index: number;
  field: string;
  reason: string;
}

function badRequest(reply: FastifyReply, field: string, message: string) {
  return reply.code(400).send({ error: { code: 'request_invalid', field, message } });
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

const example = {
  type: 'click',
  userId: 'u1',
  itemId: 'i1',
  ts: '2026-12-01T10:00:00Z',
  variant: 'home/control',
};

export function eventRoutes(app: FastifyInstance, context: ApiContext): void {
  const { intake, metrics } = context;
  app.post(
    '/v1/events',
    {
      schema: {
        operationId: 'submitEvents',
        summary: 'Submit interaction events',
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
              schema: { oneOf: [{ type: 'array', items: eventSchema }, eventSchema] },
              example: [example],
            },
            'application/x-ndjson': {
              schema: { type: 'string', description: 'One event per line.' },
              example: JSON.stringify(example),
            },
          },
        },
      },
    },
    async (request, reply) => {
      if (typeof request.body !== 'string') return badRequest(reply, 'body', 'body is required');
      const elements = parseEventsBody(request.body);
      if (typeof elements === 'string') return badRequest(reply, 'body', elements);

      const accepted: InteractionEvent[] = [];
      const errors: RejectedEvent[] = [];
      const now = Date.now();
      elements.forEach((element, index) => {
        if (typeof element === 'object' && element !== null && '__invalidJson' in element) {
          errors.push({ index, field: '$', reason: 'line is not valid JSON' });
          return;
        }
        const result = validateInteraction(element);
        const rejection = result.ok ? tooFarAhead(result.value.ts, now, intake.maxFutureMs) : result;
        if (rejection !== undefined) errors.push({ index, field: rejection.field, reason: rejection.reason });
        else if (result.ok) accepted.push(result.value);
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
    },
  );
}
