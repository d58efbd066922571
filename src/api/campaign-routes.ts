import type { FastifyInstance } from 'fastify';
import {
  CAMPAIGN_STATES,
  campaignLift,
  type Campaign,
  type CampaignState,
} from '../push/campaign.ts';
import type { PushStore } from '../push/store.ts';
import { errorSchema, objectSchema, type JsonSchema } from './schemas.ts';

export interface CampaignRoutesOptions {
  campaigns: Pick<PushStore, 'get' | 'list'>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const time = (description: string): JsonSchema => ({
  type: 'string',
  format: 'date-time',
  description,
});
const number = (description: string): JsonSchema => ({ type: 'number', description });
const integer = (description: string): JsonSchema => ({ type: 'integer', description });

const summaryFields: Record<string, JsonSchema> = {
  id: { type: 'string', description: 'Derived from the content: the same in every engine.' },
  itemId: { type: 'string' },
  state: { type: 'string', enum: [...CAMPAIGN_STATES] },
  stopReason: {
    type: ['string', 'null'],
    description:
      'expired, budget_spent, audience_exhausted, interval_below_target or nothing_expected.',
  },
  publishedAt: time('Publication of the content.'),
  expiresAt: time('The campaign stops then, in the middle of a stage if need be.'),
  updatedAt: time('Last change of the record.'),
  stageCount: integer('Stages started.'),
  sends: integer('Push requests emitted over all stages.'),
  observed: integer('Opens counted by the decisions.'),
  expected: number("Expected clicks of the same stages at the recipients' usual push CTR."),
  lift: number('observed / expected; 0 before the first decision.'),
};

const stageSchema = objectSchema({
  n: integer('Stage number, from 1.'),
  size: integer('Recipients asked for.'),
  startedAt: time('When the stage started claiming recipients.'),
  sent: integer('Push requests emitted.'),
  expected: number("Σ of the recipients' usual push CTRs."),
  variance: number('Σ p(1-p) over the same CTRs.'),
  observeUntil: {
    type: ['string', 'null'],
    format: 'date-time',
    description: 'End of the observation window.',
  },
});

const decisionSchema = objectSchema({
  at: time('When it was decided.'),
  stage: integer('The stage decided on; 0 before any send.'),
  action: { type: 'string', enum: ['expand', 'resend', 'stop', 'hold'] },
  reason: { type: 'string' },
  sent: integer('Recipients of the stage.'),
  observed: integer('Opens of those recipients.'),
  expected: number('Expected clicks.'),
  variance: number('Variance of the click count.'),
  lift: number('observed / expected.'),
  lower: number("Lower bound of the lift's confidence interval."),
  upper: number('Upper bound.'),
  nextSize: integer('Size of the next stage; 0 when stopping.'),
});

const detailSchema = objectSchema({
  ...summaryFields,
  eligibleAt: time('Publication plus the candidate delay.'),
  createdAt: time('When a worker created the campaign.'),
  budget: integer('Most pushes the campaign may send.'),
  nextSize: integer('Size of the next stage.'),
  stages: { type: 'array', items: stageSchema },
  decisions: { type: 'array', items: decisionSchema },
});

function summary(c: Campaign) {
  return {
    id: c.id,
    itemId: c.itemId,
    state: c.state,
    stopReason: c.stopReason ?? null,
    publishedAt: iso(c.publishedAt),
    expiresAt: iso(c.expiresAt),
    updatedAt: iso(c.updatedAt),
    stageCount: c.stages.length,
    sends: c.sends,
    observed: c.observed,
    expected: c.expected,
    lift: campaignLift(c),
  };
}

function detail(c: Campaign) {
  return {
    ...summary(c),
    eligibleAt: iso(c.eligibleAt),
    createdAt: iso(c.createdAt),
    budget: c.budget,
    nextSize: c.nextSize,
    stages: c.stages.map((s) => ({
      ...s,
      startedAt: iso(s.startedAt),
      observeUntil: s.observeUntil > 0 ? iso(s.observeUntil) : null,
    })),
    decisions: c.decisions.map((d) => ({ ...d, at: iso(d.at) })),
  };
}

/** GET /v1/campaigns and GET /v1/campaigns/{id}: the push loop's records, every decision with its numbers. */
export async function campaignRoutes(
  app: FastifyInstance,
  options: CampaignRoutesOptions,
): Promise<void> {
  const { campaigns } = options;

  app.get<{ Querystring: { state?: CampaignState; limit?: number } }>(
    '/v1/campaigns',
    {
      schema: {
        operationId: 'listCampaigns',
        summary: 'Push campaigns, newest first',
        tags: ['campaigns'],
        querystring: objectSchema(
          {
            state: {
              type: 'string',
              enum: [...CAMPAIGN_STATES],
              description: 'Only campaigns in this state.',
            },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: 1000,
              description: 'Default 50.',
              examples: [20],
            },
          },
          [],
        ),
        response: {
          200: {
            description: 'The campaigns.',
            ...objectSchema({ campaigns: { type: 'array', items: objectSchema(summaryFields) } }),
          },
          400: errorSchema('A parameter is invalid; `field` names it.'),
        },
      },
    },
    async (request) => {
      const list = await campaigns.list(request.query.limit ?? 50, request.query.state);
      return { campaigns: list.map(summary) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/campaigns/:id',
    {
      schema: {
        operationId: 'getCampaign',
        summary: 'One push campaign with its stages and decisions',
        description:
          'Every decision carries the numbers it was made on: sent, observed, expected, lift and its interval.',
        tags: ['campaigns'],
        params: objectSchema({
          id: { type: 'string', pattern: '^c[0-9a-f]{16}$', examples: ['c0123456789abcdef'] },
        }),
        response: {
          200: { description: 'The campaign.', ...detailSchema },
          400: errorSchema('A parameter is invalid; `field` names it.'),
          404: errorSchema('No campaign has this id.'),
        },
      },
    },
    async (request, reply) => {
      const c = await campaigns.get(request.params.id);
      if (c === undefined) {
        return reply
          .code(404)
          .send({ error: { code: 'not_found', field: 'id', message: 'unknown campaign' } });
      }
      return detail(c);
    },
  );
}
