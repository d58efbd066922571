import type { FastifyInstance, RouteOptions } from 'fastify';
import { API_KEY_HEADER } from './auth.ts';
import type { JsonSchema } from './schemas.ts';

declare module 'fastify' {
  /** Documentation keys of a route schema, which fastify ignores and /openapi.json reads. */
  interface FastifySchema {
    operationId?: string;
    summary?: string;
    description?: string;
    tags?: string[];
  }
  interface FastifyContextConfig {
    public?: boolean;
    requestBody?: Record<string, unknown>;
  }
}

/** What a route adds to its fastify `config` for the document and the API-key check. */
export interface RouteDoc {
  /** Answers without an API key (health, readiness, metrics, this document). */
  public?: boolean;
  /** A request body fastify does not parse by schema (documented only). */
  requestBody?: JsonSchema;
}

interface RouteSchema {
  summary?: string;
  description?: string;
  tags?: string[];
  operationId?: string;
  params?: JsonSchema;
  querystring?: JsonSchema;
  response?: Record<string, JsonSchema>;
}

interface Collected {
  method: string;
  url: string;
  schema: RouteSchema;
  doc: RouteDoc;
}

export interface DocumentInfo {
  title: string;
  version: string;
  description: string;
  apiKeys: boolean;
}

/** Remembers every route registered with a schema, for the document. */
export function collectRoutes(app: FastifyInstance): Collected[] {
  const routes: Collected[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const schema = route.schema as RouteSchema | undefined;
    if (schema === undefined) return;
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({
        method: method.toLowerCase(),
        url: route.url,
        schema,
        doc: (route.config ?? {}) as RouteDoc,
      });
    }
  });
  return routes;
}

function parameters(schema: JsonSchema | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (schema === undefined) return [];
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

function responses(response: Record<string, JsonSchema>): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const [status, schema] of Object.entries(response)) {
    if ('content' in schema) {
      const { description, content } = schema as { description?: string; content: JsonSchema };
      out[status] = { description: description ?? 'OK', content };
      continue;
    }
    const { description, ...body } = schema;
    out[status] = {
      description: description ?? 'OK',
      content: { 'application/json': { schema: body } },
    };
  }
  return out;
}

const errorResponse = {
  description: 'No valid API key in the x-api-key header.',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

/** An OpenAPI 3.1 document of the collected routes, from the schemas fastify validates with. */
export function openApiDocument(routes: readonly Collected[], info: DocumentInfo): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const { method, url, schema, doc } of routes) {
    const path = url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const secured = info.apiKeys && doc.public !== true;
    const answers = responses(schema.response ?? {});
    if (secured) answers['401'] = errorResponse;
    const operation: JsonSchema = {
      operationId: schema.operationId ?? `${method}${path.replace(/[^A-Za-z0-9]+/g, '_')}`,
      summary: schema.summary,
      description: schema.description,
      tags: schema.tags,
      parameters: [
        ...parameters(schema.params, 'path'),
        ...parameters(schema.querystring, 'query'),
      ],
      ...(doc.requestBody === undefined ? {} : { requestBody: doc.requestBody }),
      responses: answers,
      ...(secured ? { security: [{ apiKey: [] }] } : {}),
    };
    for (const key of Object.keys(operation))
      if (operation[key] === undefined) delete operation[key];
    paths[path] = { ...paths[path], [method]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, description: info.description },
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          properties: {
            error: {
              type: 'object',
              properties: {
                code: { type: 'string' },
                field: { type: 'string' },
                message: { type: 'string' },
              },
              required: ['code', 'message'],
            },
          },
          required: ['error'],
        },
      },
      ...(info.apiKeys
        ? { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: API_KEY_HEADER } } }
        : {}),
    },
  };
}
