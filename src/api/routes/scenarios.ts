import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import {
  errorSchema,
  objectSchema,
  reportSchema,
  scenarioListSchema,
  scenarioNameSchema,
} from '../schemas.ts';

export function scenarioRoutes(app: FastifyInstance, context: ApiContext): void {
  const scenarios = context.scenarios;
  if (scenarios === undefined) return;

  app.get(
    '/v1/scenarios',
    {
      schema: {
        operationId: 'listScenarios',
        summary: 'Loaded scenarios, and files whose latest edit was rejected',
        tags: ['scenarios'],
        response: { 200: { description: 'Scenarios in file order.', ...scenarioListSchema } },
      },
    },
    async () => ({
      scenarios: scenarios.registry.list().map((s) => ({
        name: s.name,
        description: s.description,
        version: s.version,
        file: s.file,
        variants: s.variants.map((v) => ({ name: v.name, share: v.share })),
      })),
      errors: scenarios.registry.errors(),
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/scenarios/:name/report',
    {
      schema: {
        operationId: 'scenarioReport',
        summary: 'Impressions, clicks and CTR per variant',
        description:
          'Impressions are items served by the scenario; clicks are click events tagged ' +
          '"<scenario>/<variant>". From ClickHouse when configured, else from Redis counters, ' +
          'else from this process. Each variant is compared with the first.',
        tags: ['scenarios'],
        params: objectSchema({ name: scenarioNameSchema('The scenario.') }),
        response: {
          200: { description: 'The report.', ...reportSchema },
          400: errorSchema('A parameter is invalid; `field` names it.'),
          404: errorSchema('No scenario of that name is loaded.'),
        },
      },
    },
    async (request, reply) => {
      const report = await scenarios.report(request.params.name);
      if (report === undefined) {
        return reply
          .code(404)
          .send({ error: { code: 'not_found', field: 'name', message: 'unknown scenario' } });
      }
      return report;
    },
  );
}
