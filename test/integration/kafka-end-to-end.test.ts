import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseSink } from '../../src/analytics/clickhouse.ts';
import { readMovieLens } from '../../src/sources/datasets.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { datasetFile } from '../support/datasets.ts';
import { startEngine, waitFor, type EngineProcess } from '../support/engine-process.ts';
import { service, uniqueName } from '../support/services.ts';

const brokers = service('KAFKA_BROKERS');
const redisUrl = service('REDIS_URL');
const clickhouseUrl = service('CLICKHOUSE_URL');
const file = datasetFile('movielens-100k', 'u.data');
const RATINGS = 20_000;

interface Rating {
  user: string;
  item: string;
  rating: number;
  ts: number;
}

/** The earliest ratings, read independently of the product's reader: stable sort by time. */
function earliestRatings(path: string, count: number): Rating[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [user, item, rating, ts] = line.split('\t');
      return { user: user as string, item: item as string, rating: Number(rating), ts: Number(ts) };
    })
    .sort((a, b) => a.ts - b.ts)
    .slice(0, count);
}

describe.skipIf(!brokers || !redisUrl || !clickhouseUrl || !file)('kafka to live recommendations', () => {
  const name = uniqueName('e2e');
  const topic = `${name}.events`;
  const dlqTopic = `${name}.dlq`;
  const group = `${name}.group`;
  const prefix = `${name}:`;
  const database = name.replace(/[^A-Za-z0-9_]/g, '_');
  const kafka = new Kafka({ clientId: 'e2e-test', brokers: (brokers ?? '').split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  let store: RedisStateStore;
  let clickhouse: ClickHouseSink;
  let engine: EngineProcess;
  let ratings: Rating[];

  beforeAll(async () => {
    ratings = earliestRatings(file as string, RATINGS);
    await admin.connect();
    await producer.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }, { topic: dlqTopic, numPartitions: 1 }], waitForLeaders: true });
    store = new RedisStateStore({ url: redisUrl as string, prefix, dimensions: 32 });
    clickhouse = new ClickHouseSink({ url: clickhouseUrl as string, database, username: 'default', password: '' });

    const events = await readMovieLens(file as string, { limit: RATINGS });
    for (let i = 0; i < events.length; i += 2000) {
      await producer.send({
        topic,
        acks: -1,
        messages: events.slice(i, i + 2000).map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
      });
    }

    engine = await startEngine({
      KAFKA_BROKERS: brokers as string,
      KAFKA_EVENTS_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_CONTENTS_TOPIC: `${name}.contents`,
      KAFKA_GROUP_ID: group,
      REDIS_URL: redisUrl as string,
      REDIS_PREFIX: prefix,
      CLICKHOUSE_URL: clickhouseUrl as string,
      CLICKHOUSE_DATABASE: database,
      ANALYTICS_FLUSH_MS: '200',
    });
  });

  afterAll(async () => {
    const code = await engine?.stop();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic, dlqTopic, `${name}.contents`] }).catch(() => undefined);
    await admin.disconnect();
    const keys = await store.client.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 1000) await store.client.del(...keys.slice(i, i + 1000));
    await store.close();
    await clickhouse.client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await clickhouse.close();
    expect(code).toBe(0);
  });

  async function committedEqualsEnd(): Promise<boolean> {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return ends.every((end) => committed?.partitions.find((p) => p.partition === end.partition)?.offset === end.high);
  }

  async function drained(): Promise<boolean> {
    return (await committedEqualsEnd()) && (await store.pendingAnalyticsCount()) === 0;
  }

  it('consumes every event, then commits the group offsets to the end of the topic', async () => {
    await waitFor(drained, 120_000, () => engine.logs().slice(-3000));
    const ends = await admin.fetchTopicOffsets(topic);
    expect(ends.reduce((sum, p) => sum + Number(p.high), 0)).toBe(
      RATINGS + ratings.filter((r) => r.rating >= 4).length,
    );
  });

  it('has exactly the per-item view and click totals of the file in ClickHouse', async () => {
    const expected = new Map<string, { views: number; clicks: number }>();
    for (const r of ratings) {
      const totals = expected.get(r.item) ?? { views: 0, clicks: 0 };
      totals.views++;
      if (r.rating >= 4) totals.clicks++;
      expected.set(r.item, totals);
    }
    expect(await clickhouse.itemTotals()).toEqual(expected);
  });

  it('keeps a vector in Redis for every user of the slice', async () => {
    const users = [...new Set(ratings.map((r) => r.user))];
    const missing = [];
    for (const user of users) if ((await store.getUser(user)) === undefined) missing.push(user);
    expect(users.length).toBeGreaterThan(100);
    expect(missing).toEqual([]);
  });

  it('recommends k items to each user, none already clicked', async () => {
    const clicked = new Map<string, Set<string>>();
    for (const r of ratings) {
      if (r.rating < 4) continue;
      const set = clicked.get(r.user) ?? new Set<string>();
      set.add(r.item);
      clicked.set(r.user, set);
    }
    for (const [user, items] of clicked) {
      const response = await fetch(`${engine.url}/v1/users/${user}/recommendations?k=10`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { coldStart: boolean; items: Array<{ itemId: string }> };
      expect(body.coldStart).toBe(false);
      expect(body.items).toHaveLength(10);
      for (const item of body.items) expect(items.has(item.itemId), `user ${user} got clicked item ${item.itemId}`).toBe(false);
    }
  });

  it('dead-letters a message that is not JSON and one without userId, and applies the events after them', async () => {
    const key = 'dlq-user';
    const ts = ratings.at(-1)?.ts as number;
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key, value: 'this is not json' },
        { key, value: JSON.stringify({ type: 'click', itemId: 'dlq-item', ts: ts * 1000 }) },
        { key, value: JSON.stringify({ type: 'view', userId: key, itemId: 'dlq-item', ts: ts * 1000 }) },
        { key, value: JSON.stringify({ type: 'click', userId: key, itemId: 'dlq-item', ts: ts * 1000 }) },
      ],
    });
    await waitFor(drained, 60_000, () => engine.logs().slice(-3000));
    expect(await store.getItemCounts('dlq-item')).toEqual({ views: 1, clicks: 1 });

    const consumer = kafka.consumer({ groupId: `${group}.dlq-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: dlqTopic, fromBeginning: true });
    const letters: Array<{ value: string; reason: string; field: string }> = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        letters.push({
          value: message.value?.toString() ?? '',
          reason: message.headers?.['freshet-reason']?.toString() ?? '',
          field: message.headers?.['freshet-field']?.toString() ?? '',
        });
      },
    });
    await waitFor(async () => letters.length >= 2, 30_000, () => JSON.stringify(letters));
    await consumer.disconnect();
    expect(letters).toEqual([
      { value: 'this is not json', reason: 'message is not valid JSON', field: '$' },
      {
        value: JSON.stringify({ type: 'click', itemId: 'dlq-item', ts: ts * 1000 }),
        reason: 'userId is required and must be a non-empty string or a non-negative safe integer',
        field: 'userId',
      },
    ]);
  });
});
