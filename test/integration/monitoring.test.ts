import { Agent, get } from 'node:http';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMovieLens } from '../../src/sources/datasets.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { datasetFile } from '../support/datasets.ts';
import {
  alertRules,
  alertSignals,
  panelQueries,
  renderGrafanaExpr,
} from '../support/dashboards.ts';
import { startEngine, waitFor, type EngineProcess } from '../support/engine-process.ts';
import {
  prometheusTool,
  renderPrometheusConfig,
  startPrometheus,
  type PrometheusProcess,
} from '../support/prometheus.ts';
import { service, uniqueName } from '../support/services.ts';

const brokers = service('KAFKA_BROKERS');
const redisUrl = service('REDIS_URL');
const clickhouseUrl = service('CLICKHOUSE_URL');
const prometheusBinary = prometheusTool('prometheus');
const file = datasetFile('movielens-100k', 'u.data');
const skip = !brokers || !redisUrl || !clickhouseUrl || !prometheusBinary || !file;

const RATINGS = 10_000;
const DISTINCT_USERS = 100_000;
const RECOMMEND = '/v1/users/:userId/recommendations';
const RECOMMENDED = `freshet_http_requests_total{route="${RECOMMEND}",status="2xx"}`;
/** freshet's own series in Prometheus, without the runtime's (process_*, nodejs_*). */
const COUNT_OWN_SERIES =
  'count({job="freshet", __name__=~"freshet_.+", __name__!~"freshet_(process|nodejs)_.+"})';

/** Series lines of a /metrics text: everything but comments and blank lines. */
function seriesLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

/** freshet's own series, without the runtime's, whose label sets follow the runtime's state. */
function ownSeries(lines: string[]): string[] {
  return lines.filter((line) => !/^freshet_(process|nodejs)_/.test(line));
}

/** A series line without its value. */
function seriesName(line: string): string {
  return line.slice(0, line.lastIndexOf(' '));
}

describe.skipIf(skip)('monitoring on a real Prometheus scraping a loaded engine', () => {
  const name = uniqueName('mon');
  const topic = `${name}.events`;
  const topics = [topic, `${name}.dlq`, `${name}.contents`];
  const prefix = `${name}:`;
  const database = name.replace(/[^A-Za-z0-9_]/g, '_');
  const kafka = new Kafka({
    clientId: 'monitoring-test',
    brokers: (brokers ?? '').split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let engine: EngineProcess;
  let prometheus: PrometheusProcess;
  let accepted = 0;
  let posts = 0;

  async function metricsText(): Promise<string> {
    return (await fetch(`${engine.url}/metrics`)).text();
  }

  /** Sum of the /metrics lines of one series, e.g. `freshet_dead_letters_total`. */
  async function engineValue(series: string): Promise<number> {
    const lines = seriesLines(await metricsText()).filter((l) => seriesName(l) === series);
    return lines.reduce((sum, l) => sum + Number(l.slice(series.length + 1)), 0);
  }

  /** Values of an instant query's samples. */
  async function promValues(expr: string): Promise<number[]> {
    const data = await prometheus.query(expr);
    return data.resultType === 'vector' ? data.result.map((s) => Number(s.value[1])) : [];
  }

  async function promValue(expr: string): Promise<number | undefined> {
    return (await promValues(expr))[0];
  }

  /** GET over a keep-alive connection; resolves with the status code. */
  function status(path: string): Promise<number> {
    const { hostname, port } = new URL(engine.url);
    return new Promise((resolve, reject) => {
      get({ hostname, port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
  }

  const engineLogs = () => engine.logs().slice(-3000);
  const prometheusLogs = () => prometheus.logs().slice(-3000);

  beforeAll(async () => {
    await admin.connect();
    await producer.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
    engine = await startEngine({
      KAFKA_BROKERS: brokers as string,
      KAFKA_EVENTS_TOPIC: topic,
      KAFKA_DLQ_TOPIC: `${name}.dlq`,
      KAFKA_CONTENTS_TOPIC: `${name}.contents`,
      KAFKA_GROUP_ID: `${name}.group`,
      REDIS_URL: redisUrl as string,
      REDIS_PREFIX: prefix,
      CLICKHOUSE_URL: clickhouseUrl as string,
      CLICKHOUSE_DATABASE: database,
      ANALYTICS_FLUSH_MS: '200',
      LOG_LEVEL: 'warn',
    });
    const target = new URL(engine.url).host;
    prometheus = await startPrometheus(prometheusBinary as string, (self) =>
      renderPrometheusConfig({ freshet: target, prometheus: self }),
    );
    // Prometheus applies new targets after about 5 s: the load starts once it scrapes the engine.
    const scraped = async () => (await promValue('up{job="freshet"}')) === 1;
    await waitFor(scraped, 30_000, prometheusLogs);
  });

  afterAll(async () => {
    agent.destroy();
    const code = await engine?.stop();
    await prometheus?.stop();
    await producer.disconnect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
    const store = new RedisStateStore({ url: redisUrl as string, prefix, dimensions: 32 });
    const keys = await store.client.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 1000) await store.client.del(...keys.slice(i, i + 1000));
    await store.close();
    const drop = `DROP DATABASE IF EXISTS ${database}`;
    await fetch(`${clickhouseUrl}/?query=${encodeURIComponent(drop)}`, { method: 'POST' });
    expect(code).toBe(0);
  });

  it('applies replayed MovieLens events posted while Prometheus scrapes', async () => {
    const events = await readMovieLens(file as string, { limit: RATINGS });
    for (let i = 0; i < events.length; i += 1000) {
      const batch = events.slice(i, i + 1000);
      const lines = batch.map((e) => JSON.stringify(e));
      lines.push(JSON.stringify({ type: 'click', itemId: '1', ts: batch[0]?.ts }));
      const body = lines.join('\n');
      const response = await fetch(`${engine.url}/v1/events`, { method: 'POST', body });
      expect(await response.json()).toMatchObject({ accepted: batch.length, rejected: 1 });
      accepted += batch.length;
      posts++;
      for (const e of batch.slice(0, 20)) {
        expect(await status(`/v1/users/${e.userId}/recommendations?k=10`)).toBe(200);
        expect(await status(`/v1/items/${e.itemId}/similar?k=5`)).toBeLessThan(500);
        expect(await status(`/v1/items/${e.itemId}/stats`)).toBeLessThan(500);
      }
      expect(await status('/v1/items/no-such-item/similar')).toBe(404);
    }
    // Messages that never went through the API's validation: they end in the dead-letter topic.
    const invalid = ['not json', '{"type":"click","userId":"x","itemId":"y","ts":"soon"}'];
    await producer.send({ topic, acks: -1, messages: invalid.map((value) => ({ value })) });

    const lettered = async () => (await engineValue('freshet_dead_letters_total')) === 2;
    await waitFor(lettered, 60_000, engineLogs);
    const applied = async () =>
      (await engineValue('freshet_events_consumed_total{type="view"}')) +
        (await engineValue('freshet_events_consumed_total{type="click"}')) ===
      accepted;
    await waitFor(applied, 60_000, engineLogs);
    const scraped = async () =>
      (await promValue('sum(freshet_events_consumed_total{job="freshet"})')) === accepted;
    await waitFor(scraped, 20_000, prometheusLogs);
    // The dead letters may follow the last applied event by a scrape: wait for them too.
    const letteredScraped = async () => (await promValue('sum(freshet_dead_letters_total{job="freshet"})')) === 2;
    await waitFor(letteredScraped, 20_000, prometheusLogs);
    const rejected = 'sum(freshet_events_rejected_total{job="freshet", field="userId"})';
    expect(await promValue(rejected)).toBe(posts);
  });

  it('answers every dashboard panel query with data', async () => {
    const queries = panelQueries();
    const empty: string[] = [];
    const values = new Map<string, number[]>();
    for (const q of queries) {
      // A 1m window spans the whole load, as $__rate_interval would on a 15 s scrape interval.
      const expr = renderGrafanaExpr(q.expr, { rateInterval: '1m', job: 'freshet' });
      const result = await promValues(expr);
      if (result.length === 0) empty.push(`${q.dashboard} / ${q.panel} (${q.refId}): ${expr}`);
      values.set(`${q.dashboard}/${q.panel}/${q.refId}`, result);
    }
    expect(queries.length).toBe(42);
    expect(empty).toEqual([]);

    // Panels whose values this load determines.
    const lag = await prometheus.query(
      'max by (topic, partition) (freshet_kafka_consumer_lag_messages{job="freshet"})',
    );
    const partitions = lag.resultType === 'vector' ? lag.result.map((s) => `${s.metric.topic}/${s.metric.partition}`) : [];
    // The contents topic never got a message: its partitions show their lag from the join, 0.
    expect(partitions.sort()).toEqual([...topics.slice(0, 1), topics[2]].flatMap((t) => [0, 1, 2, 3].map((p) => `${t}/${p}`)).sort());
    const contentsLag = await promValue(`max(freshet_kafka_consumer_lag_messages{job="freshet", topic="${topics[2]}"})`);
    expect(contentsLag).toBe(0);
    const applied = values.get('freshet-overview/Events applied per second, by type/A') ?? [];
    expect(Math.max(...applied)).toBeGreaterThan(0);
    const hitRate = values.get('freshet-overview/Hit rate @10, last hour/A')?.[0];
    expect(hitRate).toBeGreaterThanOrEqual(0);
    expect(hitRate).toBeLessThanOrEqual(1);
    const samples = 'sum(freshet_prequential_samples_total{job="freshet"})';
    expect(await promValue(samples)).toBeGreaterThan(10);
    const indexHits = values.get('freshet-api/Item index hit ratio/A')?.[0];
    expect(indexHits).toBeGreaterThan(0);
    expect(indexHits).toBeLessThan(1);
    expect(await promValue('max(freshet_index_items{job="freshet"})')).toBeGreaterThan(500);
    expect(values.get('freshet-api/Server error ratio/A')).toEqual([0]);
    // Fewer items than INDEX_BOUND_MIN_ITEMS: no layout serves, none is pending, none held the thread.
    expect(values.get('freshet-api/Item index layouts/A')).toEqual([0]);
    expect(values.get('freshet-api/Item index layouts/B')).toEqual([0]);

    // The dashboards' job variable: label_values(freshet_process_start_time_seconds, job).
    const match = 'match[]=freshet_process_start_time_seconds';
    const jobs = await fetch(`${prometheus.url}/api/v1/label/job/values?${match}`);
    expect(((await jobs.json()) as { data: string[] }).data).toEqual(['freshet']);
  });

  it('evaluates every alert rule, with data for every signal it compares with a threshold', async () => {
    const empty: string[] = [];
    for (const rule of alertRules()) {
      await prometheus.query(rule.expr);
      for (const signal of alertSignals(rule.expr)) {
        if ((await promValues(signal)).length === 0) empty.push(`${rule.alert}: ${signal}`);
      }
    }
    expect(empty).toEqual([]);

    interface RuleState {
      name: string;
      health: string;
      lastError?: string;
    }
    const response = await fetch(`${prometheus.url}/api/v1/rules?type=alert`);
    const body = (await response.json()) as { data: { groups: Array<{ rules: RuleState[] }> } };
    const rules = body.data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual(alertRules().map((r) => r.alert).sort());
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
  });

  it(`keeps the series flat while ${DISTINCT_USERS.toLocaleString('en')} distinct users are served`, async () => {
    const before = seriesLines(await metricsText());
    const recommendedBefore = await engineValue(RECOMMENDED);
    // Start from a scrape that has seen every series the engine has now.
    const caughtUp = async () => (await promValue(COUNT_OWN_SERIES)) === ownSeries(before).length;
    await waitFor(caughtUp, 20_000, prometheusLogs);
    const scrapedBefore = await promValue(COUNT_OWN_SERIES);

    let next = 0;
    const worker = async () => {
      while (next < DISTINCT_USERS) {
        const i = next++;
        const code = await status(`/v1/users/monitoring-user-${i}/recommendations?k=5`);
        if (code !== 200) throw new Error(`user ${i}: status ${code}`);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));

    const after = seriesLines(await metricsText());
    expect((await engineValue(RECOMMENDED)) - recommendedBefore).toBe(DISTINCT_USERS);
    expect(after.some((line) => line.includes('monitoring-user-'))).toBe(false);
    expect(ownSeries(after).map(seriesName)).toEqual(ownSeries(before).map(seriesName));
    // The runtime's series (GC kinds, handle types) come from small fixed sets.
    expect(Math.abs(after.length - before.length)).toBeLessThanOrEqual(10);

    const total = `sum(freshet_http_requests_total{job="freshet", route="${RECOMMEND}"})`;
    const expected = recommendedBefore + DISTINCT_USERS;
    const scraped = async () => ((await promValue(total)) ?? 0) >= expected;
    await waitFor(scraped, 20_000, prometheusLogs);
    expect(await promValue(COUNT_OWN_SERIES)).toBe(scrapedBefore);
    expect(scrapedBefore).toBe(ownSeries(before).length);
  });
});
