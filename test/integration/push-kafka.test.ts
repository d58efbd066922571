import { createClient } from '@clickhouse/client';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPushStore } from '../../src/push/redis-store.ts';
import type { PushRequest } from '../../src/push/sink.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { startEngine, waitFor, type EngineProcess } from '../support/engine-process.ts';
import { service, uniqueName } from '../support/services.ts';

const brokers = service('KAFKA_BROKERS');
const redisUrl = service('REDIS_URL');
const clickhouseUrl = service('CLICKHOUSE_URL');

describe.skipIf(!brokers || !redisUrl || !clickhouseUrl)('push loop in a running engine', () => {
  const name = uniqueName('push');
  const topics = {
    events: `${name}.events`,
    contents: `${name}.contents`,
    dlq: `${name}.dlq`,
    push: `${name}.push`,
  };
  const prefix = `${name}:`;
  const database = name.replace(/[^A-Za-z0-9_]/g, '_');
  const kafka = new Kafka({
    clientId: 'push-test',
    brokers: (brokers ?? '').split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer();
  let consumer: Consumer;
  const received: Array<{ key: string; request: PushRequest }> = [];
  let engine: EngineProcess;
  let state: RedisStateStore;

  beforeAll(async () => {
    await admin.connect();
    await producer.connect();
    await admin.createTopics({
      topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 2 })),
      waitForLeaders: true,
    });
    consumer = kafka.consumer({ groupId: `${name}.reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.push, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push({
          key: String(message.key),
          request: JSON.parse(String(message.value)) as PushRequest,
        });
      },
    });

    const now = Date.now();
    const events = Array.from({ length: 30 }, (_, i) => `u${i}`).flatMap((userId, i) => [
      { type: 'view', userId, itemId: `i${i % 5}`, ts: now - 600_000 },
      { type: 'click', userId, itemId: `i${i % 5}`, ts: now - 600_000 },
    ]);
    await producer.send({
      topic: topics.events,
      acks: -1,
      messages: events.map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
    });

    state = new RedisStateStore({ url: redisUrl as string, prefix, dimensions: 32 });
    engine = await startEngine({
      KAFKA_BROKERS: brokers as string,
      KAFKA_EVENTS_TOPIC: topics.events,
      KAFKA_CONTENTS_TOPIC: topics.contents,
      KAFKA_DLQ_TOPIC: topics.dlq,
      KAFKA_PUSH_TOPIC: topics.push,
      KAFKA_GROUP_ID: `${name}.group`,
      REDIS_URL: redisUrl as string,
      REDIS_PREFIX: prefix,
      CLICKHOUSE_URL: clickhouseUrl as string,
      CLICKHOUSE_DATABASE: database,
      PUSH_ENABLED: 'true',
      PUSH_DELAY_MS: '0',
      PUSH_TICK_MS: '200',
      PUSH_PILOT_SIZE: '10',
    });
    await waitFor(
      async () => (await new RedisPushStore(state.client, prefix).activeUsers(0)).length === 30,
      60_000,
      () => 'events not applied',
    );
    // Over HTTP: the engine produces it to the contents topic, and consumes it from there.
    const posted = await fetch(`${engine.url}/v1/contents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ itemId: 'n1', publishedAt: Date.now() }, { itemId: 'n2' }]),
    });
    expect(await posted.json()).toEqual({
      accepted: 1,
      rejected: 1,
      errors: [{ index: 1, field: 'publishedAt', reason: expect.stringContaining('publishedAt') }],
    });
    const offsets = await admin.fetchTopicOffsets(topics.contents);
    expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(1);
  });
  afterAll(async () => {
    await engine?.stop();
    await consumer?.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
    await admin.disconnect();
    await state?.close();
    const ch = createClient({ url: clickhouseUrl as string });
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await ch.close();
  });

  it('sends the pilot as one push request per recipient on the push topic, keyed by user', async () => {
    await waitFor(
      async () => received.length >= 10,
      60_000,
      () => `${received.length} push requests\n${engine.logs()}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(received).toHaveLength(10);
    expect(new Set(received.map((r) => r.key)).size).toBe(10);
    for (const { key, request } of received) {
      expect(request).toMatchObject({ userId: key, itemId: 'n1', stage: 1 });
      expect(request.campaignId).toMatch(/^c[0-9a-f]{16}$/);
      expect(request.requestId).toBe(`${request.campaignId}/1/${key}`);
    }
  });

  it('shows the campaign over HTTP, in the metrics and in ClickHouse', async () => {
    const { campaigns } = (await (await fetch(`${engine.url}/v1/campaigns`)).json()) as {
      campaigns: Array<Record<string, unknown>>;
    };
    expect(campaigns).toEqual([
      expect.objectContaining({ itemId: 'n1', state: 'observing', sends: 10, stageCount: 1 }),
    ]);
    const id = campaigns[0]?.id as string;
    const detail = (await (await fetch(`${engine.url}/v1/campaigns/${id}`)).json()) as {
      stages: Array<Record<string, unknown>>;
    };
    expect(detail.stages).toEqual([expect.objectContaining({ n: 1, size: 10, sent: 10 })]);

    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    expect(metrics).toContain('freshet_campaigns{state="observing"} 1');
    expect(metrics).toContain('freshet_push_requests_total 10');

    const ch = createClient({ url: clickhouseUrl as string });
    await waitFor(
      async () => {
        const result = await ch.query({
          query: `SELECT sends FROM ${database}.push_campaigns FINAL WHERE campaign_id = '${id}'`,
          format: 'JSONEachRow',
        });
        const rows = await result.json<{ sends: string | number }>();
        return rows.length === 1 && Number(rows[0]?.sends) === 10;
      },
      30_000,
      () => 'campaign row not written to ClickHouse',
    );
    await ch.close();
  });

  it("counts the delivery service's push_sent and push_open events per user and per campaign", async () => {
    const ts = Date.now();
    const answers = received.flatMap(({ request: r }, i) => [
      { type: 'push_sent', userId: r.userId, itemId: r.itemId, campaignId: r.campaignId, ts },
      ...(i < 4
        ? [
            {
              type: 'push_open',
              userId: r.userId,
              itemId: r.itemId,
              campaignId: r.campaignId,
              ts: ts + 1000,
            },
          ]
        : []),
    ]);
    await producer.send({
      topic: topics.events,
      acks: -1,
      messages: answers.map((e) => ({ key: e.userId, value: JSON.stringify(e) })),
    });
    const push = new RedisPushStore(state.client, prefix);
    await waitFor(
      async () => (await push.totals()).sends === 10,
      60_000,
      () => 'push events not counted',
    );
    expect(await push.totals()).toEqual({ sends: 10, opens: 4 });
    expect((await push.openers(received[0]!.request.campaignId)).sort()).toEqual(
      received
        .slice(0, 4)
        .map((r) => r.key)
        .sort(),
    );
    expect(await push.userCounts([received[0]!.key, received[9]!.key])).toEqual([
      { sends: 1, opens: 1 },
      { sends: 1, opens: 0 },
    ]);
  });
});
