import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { errorSchema, idSchema, itemStatsSchema, objectSchema } from '../schemas.ts';

export function itemRoutes(app: FastifyInstance, context: ApiContext): void {
  app.get<{ Params: { itemId: string } }>(
    '/v1/items/:itemId/stats',
    {
      schema: {
        operationId: 'itemStats',
        summary: 'Views, clicks and CTR of an item',
        description:
          "Exact all-time counts, and counts decayed to the model's clock with the trending " +
          'half-life. Read through the hot-key cache: at most HOT_CACHE_TTL_MS old.',
        tags: ['items'],
        params: objectSchema({ itemId: idSchema('The item.', 'i1') }),
        response: {
          200: { description: "The item's counters.", ...itemStatsSchema },
          400: errorSchema('A parameter is invalid; `field` names it.'),
          404: errorSchema('No event ever named the item.'),
        },
      },
    },
    async (request, reply) => {
      const stats = await context.recommender.stats(request.params.itemId);
      if (stats === undefined) {
        return reply
          .code(404)
          .send({ error: { code: 'not_found', field: 'itemId', message: 'unknown item' } });
      }
      return stats;
    },
  );
}
