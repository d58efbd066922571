import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InteractionEvent } from '../../src/events/schema.ts';
import { readMovieLens } from '../../src/sources/datasets.ts';
import { datasetFile } from '../support/datasets.ts';
import { startEngine, type EngineProcess } from '../support/engine-process.ts';

const file = datasetFile('movielens-100k', 'u.data');

/** What a newcomer does: `npm start` with nothing configured, then POST events and ask. */
describe.skipIf(file === undefined)('npm start on embedded defaults', () => {
  let engine: EngineProcess;
  let events: InteractionEvent[];

  beforeAll(async () => {
    events = (await readMovieLens(file as string)).slice(0, 5000);
    engine = await startEngine({}, 60_000, ['npm', 'start']);
  });
  afterAll(async () => {
    // SIGTERM to npm's process reaches the engine, which stops gracefully: none is left behind.
    const code = await engine.stop('SIGTERM');
    expect(code).toBe(0);
    expect(engine.logs()).toContain('"msg":"stopped"');
    await expect(fetch(`${engine.url}/healthz`)).rejects.toThrow();
  });

  it('takes events over HTTP and serves recommendations', async () => {
    const invalid = [{ type: 'click', itemId: '1', ts: 874724710000 }, { type: 'view', userId: '1', itemId: '1' }];
    const response = await fetch(`${engine.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([...events, ...invalid]),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      accepted: 5000,
      rejected: 2,
      errors: [
        { index: 5000, field: 'userId', reason: 'userId is required and must be a non-empty string or a non-negative safe integer' },
        { index: 5001, field: 'ts', reason: 'ts is required and must be epoch milliseconds, or an ISO-8601 date-time with a zone (Z or ±hh:mm)' },
      ],
    });

    const clicked = new Set(events.filter((e) => e.userId === '276' && e.type === 'click').map((e) => e.itemId));
    const body = (await (await fetch(`${engine.url}/v1/users/276/recommendations?k=10`)).json()) as {
      items: Array<{ itemId: string }>;
    };
    expect(body.items).toHaveLength(10);
    for (const item of body.items) expect(clicked.has(item.itemId)).toBe(false);
  });
});
