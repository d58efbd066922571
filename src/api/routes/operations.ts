import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { objectSchema } from '../schemas.ts';

const statusSchema = (description: string, values: string[]) => ({
  description,
  ...objectSchema({ status: { type: 'string', enum: values } }),
});

/** Health, readiness, metrics and the API document: answered without an API key. */
export function operationRoutes(
  app: FastifyInstance,
  context: ApiContext,
  document: () => unknown,
): void {
  const open = { public: true };

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        tags: ['operations'],
        response: {
          200: {
            description: 'Prometheus text exposition format.',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
      config: open,
    },
    async (_request, reply) => {
      reply.header('content-type', context.metrics.registry.contentType);
      return context.metrics.registry.metrics();
    },
  );

  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'health',
        summary: 'Liveness',
        tags: ['operations'],
        response: { 200: statusSchema('The process runs.', ['ok']) },
      },
      config: open,
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'ready',
        summary: 'Readiness: Redis (and ClickHouse, if configured) answer',
        tags: ['operations'],
        response: {
          200: statusSchema('Ready.', ['ready']),
          503: statusSchema('A dependency does not answer.', ['not ready']),
        },
      },
      config: open,
    },
    async (_request, reply) => {
      const ready = await context.ready();
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
    },
  );

  app.get(
    '/openapi.json',
    {
      schema: {
        operationId: 'openapi',
        summary: 'This document (OpenAPI 3.1)',
        tags: ['operations'],
        response: {
          200: { description: 'The OpenAPI document.', type: 'object', additionalProperties: true },
        },
      },
      config: open,
    },
    async () => document(),
  );
}
