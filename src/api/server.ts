import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { FreshetError } from '../errors.ts';
import type { ContentEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { decimal } from '../numbers.ts';
import type { Recommender } from '../serve/recommender.ts';
import { API_KEY_HEADER, ApiKeys } from './auth.ts';
import type { ApiContext, EventIntake, Intake, ScenarioApi } from './context.ts';
import { collectRoutes, openApiDocument, type RouteDoc } from './openapi.ts';
import { eventRoutes } from './routes/events.ts';
import { itemRoutes } from './routes/items.ts';
import { operationRoutes } from './routes/operations.ts';
import { recommendationRoutes } from './routes/recommendations.ts';
import { scenarioRoutes } from './routes/scenarios.ts';

export type { EventIntake, Intake, ScenarioApi };

export interface ApiOptions {
  recommender: Recommender;
  intake: EventIntake;
  /** Content events (POST /v1/contents); without it that route is absent. */
  contents?: Intake<ContentEvent>;
  metrics: Metrics;
  logger: Logger;
  /** Readiness: every dependency answers. */
  ready(): Promise<boolean>;
  /** Scenario routes and `?scenario=`; without it only the model's own answers. */
  scenarios?: ScenarioApi;
  /** Keys accepted in the x-api-key header; empty or absent: no key needed. */
  apiKeys?: readonly string[];
  maxK?: number;
  bodyLimitBytes?: number;
  /**
   * Longest a client may take to send a whole request, ms: a client that stalls mid-body is
   * answered 408 and let go, rather than hold its connection (and a shutdown) open.
   */
  requestTimeoutMs?: number;
}

const API_VERSION = '1.0.0';

/** The field a schema validation error is about: the parameter, or the part of the request. */
function validationField(error: FastifyError): string {
  const first = error.validation?.[0];
  const path = first?.instancePath.replace(/^\//, '').replace(/\//g, '.') ?? '';
  const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  return (
    path || params.missingProperty || params.additionalProperty || error.validationContext || '$'
  );
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const UNSUPPORTED_CHARSET = 'FRESHET_UNSUPPORTED_CHARSET';
/** The request part that errors of the framework's own (and the body parser's) are about. */
const ERROR_FIELDS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body',
  [UNSUPPORTED_CHARSET]: 'content-type',
  FST_ERR_BAD_URL: 'path',
  FST_ERR_MAX_PARAM_LENGTH: 'path',
};

function errorReply(error: FastifyError): {
  status: number;
  body: { error: Record<string, string> };
} {
  if (error.validation !== undefined) {
    const field = validationField(error);
    const where = error.validationContext === 'params' ? 'path parameter' : 'parameter';
    const message = `${where} ${field} ${error.validation[0]?.message ?? 'is invalid'}`;
    return { status: 400, body: { error: { code: 'request_invalid', field, message } } };
  }
  if (error instanceof FreshetError && error.code === 'request_invalid') {
    const field = error.field ?? '$';
    return {
      status: 400,
      body: { error: { code: 'request_invalid', field, message: error.message } },
    };
  }
  if (error instanceof FreshetError && error.retryable) {
    // The request did nothing and may succeed if sent again (another engine fenced its batch, say).
    return { status: 503, body: { error: { code: error.code, message: error.message } } };
  }
  const status = error.statusCode ?? 500;
  const code = status >= 500 ? 'internal' : 'request_invalid';
  const body: Record<string, string> = { code };
  const field = ERROR_FIELDS[error.code];
  if (field !== undefined) body.field = field;
  body.message = status >= 500 ? 'internal error' : error.message;
  return { status, body: { error: body } };
}

/**
 * Answers a request the HTTP parser gave up on (a timeout, an oversized header, bytes that are not
 * HTTP) in the API's error shape, with a request id, and closes the connection.
 */
function answerClientError(log: FastifyBaseLogger, error: NodeJS.ErrnoException, socket: Duplex, requestTimeoutMs: number): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request_timeout', `the request did not arrive whole within ${requestTimeoutMs} ms`]
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'request_invalid', 'the request headers are too large']
        : [400, 'request_invalid', 'the request is not valid HTTP'];
  const id = randomUUID();
  log.info({ status, reason: error.code, requestId: id }, 'request refused by the HTTP parser');
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * The HTTP API: routes in ./routes, each with the JSON schemas that validate
 * its requests, serialize its answers and make /openapi.json.
 */
export function buildApi(options: ApiOptions): FastifyInstance {
  const { metrics } = options;
  const apiKeys = new ApiKeys(options.apiKeys ?? []);
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const log = options.logger.child({ component: 'api' }) as FastifyBaseLogger;
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 32 * 1024 * 1024,
    requestTimeout,
    // Node enforces the timeout only when its server is built with it, and checks for it this
    // often (30 s by default, whatever the timeout).
    http: { requestTimeout, connectionsCheckingInterval: Math.max(10, Math.floor(requestTimeout / 4)) },
    requestIdHeader: 'x-request-id',
    // Ids may have 256 characters, up to three bytes each percent-encoded; schemas check the rest.
    routerOptions: { maxParamLength: 1024 },
    genReqId: () => randomUUID(),
    clientErrorHandler: (error, socket) => answerClientError(log, error as NodeJS.ErrnoException, socket, requestTimeout),
    // A URL the router cannot decode (a malformed percent-escape) or an overlong parameter: the
    // API's error shape, not the framework's.
    frameworkErrors: (error, request, reply) => {
      const { status, body } = errorReply(error as FastifyError);
      const answer = reply as unknown as FastifyReply;
      answer.header('x-request-id', request.id);
      void answer.code(status).send(body);
    },
  });
  const routes = collectRoutes(app);

  app.removeAllContentTypeParsers();
  // Bodies are decoded strictly: bytes that are not UTF-8 would become U+FFFD and merge distinct
  // ids, which the Kafka input refuses as well. A request for no route gets its 404 whatever it holds.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    if (request.is404) return done(null, undefined);
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      return done(Object.assign(new Error(`charset ${charset} is not supported: send UTF-8`), { statusCode: 415, code: UNSUPPORTED_CHARSET }));
    }
    try {
      done(null, STRICT_UTF8.decode(body as Buffer));
    } catch {
      done(new FreshetError('request_invalid', 'body is not valid UTF-8', { field: 'body' }));
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const doc = (request.routeOptions.config ?? {}) as RouteDoc;
    if (doc.public === true || apiKeys.accepts(request.headers[API_KEY_HEADER])) return;
    request.log.info({ route: request.routeOptions.url }, 'request without a valid API key');
    return reply.code(401).send({
      error: {
        code: 'unauthorized',
        field: API_KEY_HEADER,
        message: `a valid API key is required in the ${API_KEY_HEADER} header`,
      },
    });
  });
  // The schema validator turns a query string into a number as JavaScript would ("Infinity",
  // "1e400", "0x10", " 5" all pass as integers, the first two past any maximum): an integer
  // parameter must be written in decimal digits.
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema?.querystring as { properties?: Record<string, { type?: unknown }> } | undefined;
    const properties = schema?.properties;
    if (properties === undefined) return;
    for (const [name, value] of Object.entries(request.query as Record<string, unknown>)) {
      if (properties[name]?.type !== 'integer' || typeof value !== 'string' || !Number.isNaN(decimal(value))) continue;
      throw new FreshetError('request_invalid', `parameter ${name} must be an integer in decimal digits`, { field: name });
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ route, status: `${Math.floor(reply.statusCode / 100)}xx` });
    metrics.httpSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body } = errorReply(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).send(body);
  });

  const context: ApiContext = {
    recommender: options.recommender,
    intake: options.intake,
    contents: options.contents,
    metrics,
    ready: options.ready,
    maxK: options.maxK ?? 100,
    scenarios: options.scenarios,
  };
  let document: unknown;
  const info = {
    title: 'freshet',
    version: API_VERSION,
    description: 'Real-time personalization: events in, recommendations scored at request time.',
    apiKeys: apiKeys.enabled,
  };
  recommendationRoutes(app, context);
  itemRoutes(app, context);
  eventRoutes(app, context);
  scenarioRoutes(app, context);
  operationRoutes(app, context, () => (document ??= openApiDocument(routes, info)));
  return app;
}
