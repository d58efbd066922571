import type { Redis } from 'ioredis';
import type { ExposureOptions, ExposureStore, VariantCounts, VariantDelta } from './exposure.ts';

/** Counts showings per item and when each was last shown; past the cap, forgets the oldest. */
const RECORD_SHOWN = `
local now, cap, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for i = 4, #ARGV do
  redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  redis.call('ZADD', KEYS[2], now, ARGV[i])
end
local over = redis.call('ZCARD', KEYS[2]) - cap
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('HDEL', KEYS[1], id)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1`;

type Script = (...args: Array<string | number | Buffer>) => Promise<number>;

/**
 * Exposure in Redis, keys under the state prefix P: P+sh:<user> (hash item ->
 * times shown), P+sht:<user> (zset item -> last shown, ms), P+ab:<scenario>
 * (hash "<variant>:i" and "<variant>:c" -> impressions and clicks). Per-user
 * keys expire after the TTL.
 */
export class RedisExposureStore implements ExposureStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly options: ExposureOptions;

  constructor(client: Redis, prefix: string, options: ExposureOptions) {
    this.client = client;
    this.prefix = prefix;
    this.options = options;
    client.defineCommand('freshetRecordShown', { numberOfKeys: 2, lua: RECORD_SHOWN });
  }

  async recordShown(userId: string, itemIds: readonly string[], now: number): Promise<void> {
    if (itemIds.length === 0) return;
    const keys = [`${this.prefix}sh:${userId}`, `${this.prefix}sht:${userId}`];
    const { maxShown, ttlMs } = this.options;
    await this.script('freshetRecordShown')(...keys, now, maxShown, ttlMs, ...itemIds);
  }

  async shownCounts(userId: string): Promise<Map<string, number>> {
    const counts = await this.client.hgetall(`${this.prefix}sh:${userId}`);
    return new Map(Object.entries(counts).map(([id, n]) => [id, Number(n)]));
  }

  async addVariantCounts(deltas: readonly VariantDelta[]): Promise<void> {
    if (deltas.length === 0) return;
    const pipeline = this.client.pipeline();
    for (const d of deltas) {
      const key = `${this.prefix}ab:${d.scenario}`;
      if (d.impressions !== 0) pipeline.hincrby(key, `${d.variant}:i`, d.impressions);
      if (d.clicks !== 0) pipeline.hincrby(key, `${d.variant}:c`, d.clicks);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err !== null);
    if (failed) throw failed[0];
  }

  async variantCounts(scenario: string): Promise<Map<string, VariantCounts>> {
    const fields = await this.client.hgetall(`${this.prefix}ab:${scenario}`);
    const out = new Map<string, VariantCounts>();
    for (const [field, value] of Object.entries(fields)) {
      const cut = field.lastIndexOf(':');
      const variant = field.slice(0, cut);
      const counts = out.get(variant) ?? { impressions: 0, clicks: 0 };
      if (field.endsWith(':i')) counts.impressions = Number(value);
      else counts.clicks = Number(value);
      out.set(variant, counts);
    }
    return out;
  }

  private script(name: string): Script {
    const command = (this.client as unknown as Record<string, Script>)[name] as Script;
    return command.bind(this.client);
  }
}
