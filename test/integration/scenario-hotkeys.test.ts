import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine, type Engine } from '../../src/engine.ts';
import { eventually } from '../support/scenarios.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');
const REQUESTS = 200;

/**
 * Counts the commands Redis receives per key of this test's prefix, with
 * MONITOR on a connection of its own.
 */
class KeyReads {
  private readonly monitor: Promise<import('events').EventEmitter & { disconnect(): void }>;
  private readonly seen: string[][] = [];

  constructor(client: Redis) {
    this.monitor = client.monitor().then((m) => {
      m.on('monitor', (_time: string, args: string[]) => this.seen.push(args));
      return m;
    });
  }

  async ready(): Promise<void> {
    await this.monitor;
  }

  /** Waits until a marker command shows up, so every earlier command has been seen. */
  async flush(client: Redis): Promise<void> {
    const marker = uniqueName('marker');
    await client.echo(marker);
    await eventually(
      () => this.seen.some((args) => args.includes(marker)),
      5000,
      'the MONITOR marker',
    );
  }

  /** Commands naming `key`, as their command names. */
  commandsOn(key: string): string[] {
    return this.seen
      .filter((args) => args.slice(1).includes(key))
      .map((args) => String(args[0]).toLowerCase());
  }

  async close(): Promise<void> {
    (await this.monitor).disconnect();
  }
}

describe.skipIf(url === undefined)('hot keys against Redis', () => {
  const prefix = `${uniqueName('hot')}:`;
  let engine: Engine;
  let base: string;
  let client: Redis;
  let reads: KeyReads;

  beforeAll(async () => {
    const env = {
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: url as string,
      REDIS_PREFIX: prefix,
      HOT_CACHE_TTL_MS: '5000',
    };
    engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
    base = await engine.start();
    const now = Date.now() - 60_000;
    const events = [];
    for (let u = 0; u < 50; u++) {
      for (const itemId of ['hot', 'viral', `other${u % 7}`]) {
        events.push({ type: 'view', userId: `u${u}`, itemId, ts: now + u });
        events.push({ type: 'click', userId: `u${u}`, itemId, ts: now + u + 1 });
      }
    }
    await engine.api.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify(events) });
    await engine.store.commit({
      partition: 'test/contents/0',
      expectedOffset: null,
      nextOffset: '1',
      effects: undefined,
      analytics: undefined,
      contents: [{ itemId: 'viral', publishedAt: now, category: 'news' }],
    });
    // Load the item index before counting, as a running engine has.
    expect((await fetch(`${base}/v1/items/other1/similar`)).status).toBe(200);
    client = new Redis(url as string);
    reads = new KeyReads(new Redis(url as string));
    await reads.ready();
  });
  afterAll(async () => {
    await reads?.close();
    await client?.quit();
    await engine?.stop();
  });

  it('answers 200 concurrent requests for one uncached item with one read of each of its keys', async () => {
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, () => fetch(`${base}/v1/items/hot/stats`)),
    );
    const bodies = await Promise.all(answers.map((a) => a.json()));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]).toMatchObject({ itemId: 'hot', views: 50, clicks: 50 });

    await reads.flush(client);
    // The record is read once for its learned values and once for the totals stored with it.
    expect(reads.commandsOn(`${prefix}i:hot`)).toEqual(['get', 'get']);
  });

  it("serves 200 concurrent scenario requests of 200 users with one read of the trending list and of the hot item's content", async () => {
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) =>
        fetch(`${base}/v1/users/visitor${i}/recommendations?scenario=home&k=5`),
      ),
    );
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as Array<{
      coldStart: boolean;
      items: Array<{ itemId: string }>;
    }>;
    expect(answers.map((a) => a.status)).toEqual(Array(REQUESTS).fill(200));
    expect(
      bodies.every(
        (b) =>
          b.coldStart === true && b.items.some((i: { itemId: string }) => i.itemId === 'viral'),
      ),
    ).toBe(true);

    await reads.flush(client);
    expect(reads.commandsOn(`${prefix}trend`)).toEqual(['zrevrange']);
    expect(reads.commandsOn(`${prefix}meta:viral`)).toEqual(['mget']);
    // A visitor's own shown-items are read once per request (and written by a script): they are not hot.
    expect(reads.commandsOn(`${prefix}sh:visitor7`).filter((c) => c === 'hgetall')).toHaveLength(1);
  });
});
