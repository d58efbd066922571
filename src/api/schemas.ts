/**
 * JSON schemas of the API: fastify validates requests and serializes answers
 * with them, and /openapi.json is generated from the same objects.
 */
import { ID_MAX_LENGTH } from '../events/schema.ts';
import { NAME_PATTERN } from '../scenarios/types.ts';

export type JsonSchema = Record<string, unknown>;

export const idSchema = (description: string, example: string): JsonSchema => ({
  type: 'string',
  minLength: 1,
  maxLength: ID_MAX_LENGTH,
  description,
  examples: [example],
});

export const kSchema = (max: number): JsonSchema => ({
  type: 'integer',
  minimum: 1,
  maximum: max,
  description:
    "How many items to answer (a scenario may allow fewer); default 10, or the scenario's.",
  examples: [5],
});

export const scenarioNameSchema = (description: string): JsonSchema => ({
  type: 'string',
  pattern: NAME_PATTERN.source,
  description,
  examples: ['home'],
});

export function objectSchema(
  properties: Record<string, JsonSchema>,
  required: string[] = Object.keys(properties),
) {
  return { type: 'object', properties, required, additionalProperties: false };
}

export const errorSchema = (description: string): JsonSchema => ({
  description,
  ...objectSchema({
    error: objectSchema(
      {
        code: {
          type: 'string',
          description: 'request_invalid, not_found, unauthorized, overloaded, state_fenced or internal',
        },
        field: { type: 'string', description: 'The parameter or field at fault.' },
        message: { type: 'string' },
      },
      ['code', 'message'],
    ),
  }),
});

const nullableNumber: JsonSchema = { type: ['number', 'null'] };

export const scoredItemSchema = objectSchema(
  {
    itemId: { type: 'string' },
    score: { type: 'number' },
    source: {
      type: 'string',
      enum: ['model', 'trending', 'similar', 'fresh'],
      description:
        'With a scenario: the candidate source that proposed the item (the first in the file).',
    },
  },
  ['itemId', 'score'],
);

/** Fields a scenario answer adds; absent without `scenario`. */
export const scenarioFields: Record<string, JsonSchema> = {
  scenario: { type: 'string', description: 'The scenario that answered.' },
  variant: {
    type: 'string',
    description: 'The user\'s A/B variant; click events carry it as "<scenario>/<variant>".',
  },
  version: {
    type: 'string',
    description: 'Version (content hash) of the scenario file that answered.',
  },
};

export const itemStatsSchema = objectSchema({
  itemId: { type: 'string' },
  views: { type: 'integer' },
  clicks: { type: 'integer' },
  ctr: nullableNumber,
  decayed: objectSchema({
    views: { type: 'number' },
    clicks: { type: 'number' },
    ctr: nullableNumber,
    asOf: { type: ['string', 'null'] },
  }),
});

export const scenarioListSchema = objectSchema({
  scenarios: {
    type: 'array',
    items: objectSchema({
      name: { type: 'string' },
      description: { type: 'string' },
      version: { type: 'string' },
      file: { type: 'string' },
      variants: {
        type: 'array',
        items: objectSchema({ name: { type: 'string' }, share: { type: 'number' } }),
      },
    }),
  },
  errors: {
    type: 'array',
    description: 'Files whose latest text was rejected; their last good version keeps serving.',
    items: objectSchema({
      file: { type: 'string' },
      line: { type: 'integer' },
      field: { type: 'string' },
      message: { type: 'string' },
    }),
  },
});

export const reportSchema = objectSchema({
  scenario: { type: 'string' },
  version: { type: 'string' },
  source: {
    type: 'string',
    enum: ['clickhouse', 'redis', 'memory'],
    description: 'Where the counts come from.',
  },
  variants: {
    type: 'array',
    items: objectSchema({
      variant: { type: 'string' },
      share: nullableNumber,
      impressions: { type: 'integer', description: 'Items served in answers of the variant.' },
      clicks: { type: 'integer', description: 'Click events tagged with the variant.' },
      ctr: nullableNumber,
    }),
  },
  comparisons: {
    type: 'array',
    description:
      'Each variant against the first: CTR difference with a 95% normal-approximation interval.',
    items: objectSchema({
      variant: { type: 'string' },
      baseline: { type: 'string' },
      difference: nullableNumber,
      confidence: { type: 'number' },
      interval: { type: ['array', 'null'], items: { type: 'number' }, minItems: 2, maxItems: 2 },
    }),
  },
});
