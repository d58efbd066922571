import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../../src/api/auth.ts';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { pipelinesCopy } from '../support/scenarios.ts';

type Json = Record<string, any>;

const KEY = 'test-key-0123456789abcdef';
const T0 = Date.now() - 86_400_000;

/** A few users clicking a few items, so every documented route has something to answer. */
function seedEvents(): string {
  const events: Json[] = [];
  for (let u = 1; u <= 6; u++) {
    for (let i = 1; i <= 8; i++) {
      const ts = T0 + u * 60_000 + i * 1000;
      events.push({ type: 'view', userId: `u${u}`, itemId: `i${i}`, ts });
      if ((u + i) % 2 === 0)
        events.push({ type: 'click', userId: `u${u}`, itemId: `i${i}`, ts: ts + 1 });
    }
  }
  return events.map((e) => JSON.stringify(e)).join('\n');
}

function startEngine(extra: Record<string, string>, dir: string, stream?: Writable): Engine {
  const env = { PORT: '0', HOST: '127.0.0.1', FRESHET_PIPELINES_DIR: dir, ...extra };
  return createEngine(
    loadConfig(env),
    stream ? pino({ level: 'info' }, stream) : pino({ level: 'silent' }),
  );
}

/** A value the parameter's schema refuses. */
function invalidValue(schema: Json): string | undefined {
  if (schema.type === 'integer' && schema.maximum !== undefined) return String(schema.maximum + 1);
  if (schema.pattern !== undefined) return 'Not A Name!';
  if (schema.maxLength !== undefined) return 'x'.repeat(schema.maxLength + 1);
  return undefined;
}

function urlFor(
  path: string,
  parameters: Json[],
  override?: { name: string; value: string },
): string {
  let url = path;
  const query: string[] = [];
  for (const p of parameters) {
    const value =
      override !== undefined && override.name === p.name
        ? override.value
        : String(p.schema.examples?.[0] ?? '');
    if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(value));
    else if (p.required || override?.name === p.name)
      query.push(`${p.name}=${encodeURIComponent(value)}`);
  }
  return query.length > 0 ? `${url}?${query.join('&')}` : url;
}

describe('the API document', () => {
  const files = pipelinesCopy();
  let engine: Engine;
  let doc: Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  /** The routes this test seeds data for answer 200; any other must answer one of its documented statuses. */
  const seeded =
    /^(get|post) \/(v1\/(users|items|events|scenarios)|metrics|healthz|readyz|openapi)/;

  beforeAll(async () => {
    engine = startEngine({ API_KEYS: `${KEY},another-key-0123456789` }, files.dir);
    await engine.start();
    const seeded = await engine.api.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'x-api-key': KEY },
      payload: seedEvents(),
    });
    expect(seeded.json().rejected).toBe(0);
    const response = await engine.api.inject({ url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    doc = response.json();
  });
  afterAll(async () => {
    await engine.stop();
    files.remove();
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('documents every route, with the API key where one is needed', () => {
    const operations = Object.entries(doc.paths as Json).flatMap(([path, methods]) =>
      Object.entries(methods as Json).map(([method, op]) => [
        `${method.toUpperCase()} ${path}`,
        (op as Json).security !== undefined,
      ]),
    );
    expect(Object.fromEntries(operations)).toMatchObject({
      'GET /v1/users/{userId}/recommendations': true,
      'GET /v1/items/{itemId}/similar': true,
      'GET /v1/items/{itemId}/stats': true,
      'POST /v1/events': true,
      'GET /v1/scenarios': true,
      'GET /v1/scenarios/{name}/report': true,
      'GET /metrics': false,
      'GET /healthz': false,
      'GET /readyz': false,
      'GET /openapi.json': false,
    });
    for (const [operation, secured] of operations)
      expect(secured, String(operation)).toBe(String(operation).includes(' /v1/'));
    expect(doc.components.securitySchemes).toEqual({
      apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
    });
  });

  it('answers every documented operation as documented', async () => {
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths as Json)) {
      for (const [method, op] of Object.entries(methods as Json) as Array<[string, Json]>) {
        const body = op.requestBody?.content?.['application/json']?.example;
        const response = await engine.api.inject({
          method: method.toUpperCase() as 'GET' | 'POST',
          url: urlFor(path, op.parameters ?? []),
          headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        const label = `${method} ${path}`;
        const documented = op.responses[String(response.statusCode)];
        expect(
          documented,
          `${label} answered ${response.statusCode}: ${response.body}`,
        ).toBeDefined();
        if (seeded.test(label)) expect(response.statusCode, label).toBe(200);
        const [type, media] = Object.entries(documented.content as Json)[0] as [string, Json];
        expect(response.headers['content-type'], label).toContain(type);
        if (type === 'application/json') {
          const validate = ajv.compile(media.schema);
          expect(validate(response.json()) ? [] : validate.errors, label).toEqual([]);
        } else {
          expect(response.body.length, label).toBeGreaterThan(0);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it('answers 400 naming the parameter for every constrained parameter, in the documented shape', async () => {
    let checked = 0;
    for (const [path, methods] of Object.entries(doc.paths as Json)) {
      for (const [method, op] of Object.entries(methods as Json) as Array<[string, Json]>) {
        for (const parameter of (op.parameters ?? []) as Json[]) {
          const value = invalidValue(parameter.schema);
          if (value === undefined) continue;
          const url = urlFor(path, op.parameters, { name: parameter.name, value });
          const response = await engine.api.inject({
            method: method.toUpperCase() as 'GET',
            url,
            headers: { 'x-api-key': KEY },
          });
          const label = `${url}`;
          expect(response.statusCode, label).toBe(400);
          const validate = ajv.compile(op.responses['400'].content['application/json'].schema);
          expect(validate(response.json()), label).toBe(true);
          expect(response.json().error, label).toMatchObject({
            code: 'request_invalid',
            field: parameter.name,
          });
          expect(response.json().error.message, label).toContain(parameter.name);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });

  it('answers the documented 404s', async () => {
    const cases = ['/v1/items/nope/stats', '/v1/items/nope/similar', '/v1/scenarios/nope/report'];
    for (const url of cases) {
      const response = await engine.api.inject({ url, headers: { 'x-api-key': KEY } });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error.code).toBe('not_found');
    }
  });

  it('names the scenario and the k of a scenario request that it refuses', async () => {
    const unknown = await engine.api.inject({
      url: '/v1/users/u1/recommendations?scenario=nope',
      headers: { 'x-api-key': KEY },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toEqual({
      code: 'request_invalid',
      field: 'scenario',
      message: 'unknown scenario "nope"; loaded: home, similar',
    });
    const tooMany = await engine.api.inject({
      url: '/v1/users/u1/recommendations?scenario=home&k=31',
      headers: { 'x-api-key': KEY },
    });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error).toEqual({
      code: 'request_invalid',
      field: 'k',
      message: 'k must be at most 30 for scenario home',
    });
  });

  it('refuses /v1 routes without a valid key, and keeps health, metrics and the document open', async () => {
    for (const headers of [
      {},
      { 'x-api-key': 'wrong-key-0123456789abcdef' },
      { 'x-api-key': '' },
    ]) {
      const response = await engine.api.inject({ url: '/v1/users/u1/recommendations', headers });
      expect(response.statusCode).toBe(401);
      expect(response.json().error).toMatchObject({ code: 'unauthorized', field: 'x-api-key' });
    }
    expect(
      (
        await engine.api.inject({
          url: '/v1/scenarios',
          headers: { 'x-api-key': 'another-key-0123456789' },
        })
      ).statusCode,
    ).toBe(200);
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
      expect((await engine.api.inject({ url })).statusCode, url).toBe(200);
    }
  });
});

describe('API keys', () => {
  it('compare hashes of equal length, so a key of another length is simply refused', () => {
    const keys = new ApiKeys(['k'.repeat(16), 'z'.repeat(40)]);
    expect(keys.enabled).toBe(true);
    expect(keys.accepts('k'.repeat(16))).toBe(true);
    expect(keys.accepts('z'.repeat(40))).toBe(true);
    expect(keys.accepts('k'.repeat(15))).toBe(false);
    expect(keys.accepts(['k'.repeat(16)])).toBe(false);
    expect(keys.accepts(undefined)).toBe(false);
    expect(new ApiKeys([]).accepts(undefined)).toBe(true);
  });

  it('refuse a weak key at start-up, naming the variable and not the key', () => {
    expect(() => loadConfig({ API_KEYS: 'short' })).toThrow(
      'API_KEYS entry 1 must have 16 to 256 printable characters without spaces',
    );
    expect(loadConfig({ API_KEYS: ` ${KEY} , ,another-key-0123456789` }).apiKeys).toEqual([
      KEY,
      'another-key-0123456789',
    ]);
    expect(loadConfig({}).apiKeys).toEqual([]);
  });
});

describe('request ids', () => {
  it('are in every response and in the log lines of the request', async () => {
    const files = pipelinesCopy();
    const lines: Json[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const engine = startEngine({ API_KEYS: KEY }, files.dir, stream);
    try {
      const given = await engine.api.inject({
        url: '/v1/scenarios',
        headers: { 'x-request-id': 'req-42' },
      });
      expect(given.statusCode).toBe(401);
      expect(given.headers['x-request-id']).toBe('req-42');
      const generated = await engine.api.inject({ url: '/healthz' });
      expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const requestLines = lines.filter(
        (l) => l.component === 'api' && l.msg === 'request without a valid API key',
      );
      expect(requestLines).toEqual([
        expect.objectContaining({ reqId: 'req-42', route: '/v1/scenarios' }),
      ]);
    } finally {
      await engine.api.close();
      await engine.stop();
      files.remove();
    }
  });
});
