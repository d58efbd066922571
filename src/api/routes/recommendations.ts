import type { FastifyInstance } from 'fastify';
import { FreshetError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { ScenarioAnswer, ScenarioRequest } from '../../scenarios/service.ts';
import type { ApiContext } from '../context.ts';
import {
  errorSchema,
  idSchema,
  kSchema,
  objectSchema,
  scenarioFields,
  scenarioNameSchema,
  scoredItemSchema,
} from '../schemas.ts';

const LEGACY_K = 10;

const itemsSchema = { type: 'array', items: scoredItemSchema };

/** Runs a request on the scenario version current now; an unknown name is the caller's mistake. */
function answer(
  context: ApiContext,
  name: string,
  request: Omit<ScenarioRequest, 'scenario'>,
  log: Pick<Logger, 'warn'>,
) {
  const scenarios = context.scenarios;
  const scenario = scenarios?.registry.get(name);
  if (scenarios === undefined || scenario === undefined) {
    const loaded =
      scenarios?.registry
        .list()
        .map((s) => s.name)
        .join(', ') || 'none';
    throw new FreshetError('request_invalid', `unknown scenario "${name}"; loaded: ${loaded}`, {
      field: 'scenario',
    });
  }
  return scenarios.service.recommend({ scenario, ...request }, log);
}

function scenarioBody(answer: ScenarioAnswer) {
  const { scenario, variant, version, coldStart } = answer;
  const items = answer.items.map((i) => ({ itemId: i.itemId, score: i.score, source: i.source }));
  return { scenario, variant, version, coldStart, items };
}

/** Recommendations for a user and items similar to an item, by a scenario when one is named. */
export function recommendationRoutes(app: FastifyInstance, context: ApiContext): void {
  const { recommender } = context;

  app.get<{ Params: { userId: string }; Querystring: { k?: number; scenario?: string } }>(
    '/v1/users/:userId/recommendations',
    {
      schema: {
        operationId: 'recommendForUser',
        summary: 'Recommendations for a user, scored now',
        description:
          "Without `scenario`: the model's top k (clicked items excluded), or trending items for a user " +
          'with no history (`coldStart`). With `scenario`: the scenario file decides candidates, ' +
          "filters, demotions, diversity and k, for the user's A/B variant.",
        tags: ['recommendations'],
        params: objectSchema({ userId: idSchema('The user.', 'u1') }),
        querystring: objectSchema(
          {
            k: kSchema(context.maxK),
            scenario: scenarioNameSchema('A scenario of the pipelines directory.'),
          },
          [],
        ),
        response: {
          200: {
            description: 'Items, best first.',
            ...objectSchema(
              {
                userId: { type: 'string' },
                coldStart: { type: 'boolean' },
                items: itemsSchema,
                ...scenarioFields,
              },
              ['userId', 'coldStart', 'items'],
            ),
          },
          400: errorSchema('A parameter is invalid; `field` names it.'),
        },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const { k, scenario } = request.query;
      if (scenario === undefined) {
        const result = await recommender.recommend(userId, k ?? LEGACY_K);
        const items = result.items.map((s) => ({ itemId: s.id, score: s.score }));
        return { userId, coldStart: result.coldStart, items };
      }
      const result = await answer(context, scenario, { userId, itemId: undefined, k }, request.log);
      return { userId, ...scenarioBody(result) };
    },
  );

  app.get<{
    Params: { itemId: string };
    Querystring: { k?: number; scenario?: string; userId?: string };
  }>(
    '/v1/items/:itemId/similar',
    {
      schema: {
        operationId: 'similarItems',
        summary: 'Items similar to an item',
        description:
          'Without `scenario`: cosine similarity of item vectors, 404 for an item without one. With ' +
          '`scenario`: a similar-items page as the scenario file declares it (the item itself is ' +
          "never served); `userId` picks the variant and applies the user's filters, and an item " +
          'with no vector yet still gets an answer from the other sources.',
        tags: ['recommendations'],
        params: objectSchema({ itemId: idSchema('The item of the page.', 'i1') }),
        querystring: objectSchema(
          {
            k: kSchema(context.maxK),
            scenario: scenarioNameSchema('A scenario of the pipelines directory.'),
            userId: idSchema('The user looking at the page (with `scenario`).', 'u1'),
          },
          [],
        ),
        response: {
          200: {
            description: 'Items, best first.',
            ...objectSchema(
              {
                itemId: { type: 'string' },
                userId: { type: 'string' },
                coldStart: { type: 'boolean' },
                items: itemsSchema,
                ...scenarioFields,
              },
              ['itemId', 'items'],
            ),
          },
          400: errorSchema('A parameter is invalid; `field` names it.'),
          404: errorSchema('Without `scenario`: the item has no vector.'),
        },
      },
    },
    async (request, reply) => {
      const { itemId } = request.params;
      const { k, scenario, userId } = request.query;
      if (scenario === undefined) {
        const items = await recommender.similar(itemId, k ?? LEGACY_K);
        if (items === undefined) {
          return reply
            .code(404)
            .send({ error: { code: 'not_found', field: 'itemId', message: 'unknown item' } });
        }
        return { itemId, items: items.map((s) => ({ itemId: s.id, score: s.score })) };
      }
      const result = await answer(context, scenario, { userId, itemId, k }, request.log);
      return { itemId, ...(userId === undefined ? {} : { userId }), ...scenarioBody(result) };
    },
  );
}
