import type { Redis } from 'ioredis';
import { LUA_UNPACK_IDS, Packer } from '../state/packed.ts';
import type {
  ClickSeen,
  ExposureOptions,
  ExposureStore,
  VariantCounts,
  VariantDelta,
} from './exposure.ts';

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

/**
 * Keeps each clicked item's latest event time per user, and only each user's newest `cap`
 * items. ARGV: the key prefix, cap and TTL, then four packed arguments (src/state/packed.ts):
 * user ids, each user's number of clicks (uint32), the clicked item ids user after user, and
 * their event times (float64). One ZADD per user; packed, the arguments cost the client one
 * buffer instead of three strings per click.
 */
const RECORD_CLICKS = `${LUA_UNPACK_IDS}
local prefix, cap, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local users, counts, items, times = ids(ARGV[4]), ARGV[5], ids(ARGV[6]), ARGV[7]
local click = 0
for u, user in ipairs(users) do
  local key, scored = prefix .. user, {}
  for _ = 1, struct.unpack('<I4', counts, 4 * u - 3) do
    click = click + 1
    scored[#scored + 1] = struct.unpack('<d', times, 8 * click - 7)
    scored[#scored + 1] = items[click]
  end
  for at = 1, #scored, 2000 do
    redis.call('ZADD', key, 'GT', unpack(scored, at, math.min(at + 1999, #scored)))
  end
  redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1))
  redis.call('PEXPIRE', key, ttl)
end
return 1`;

/** Clicks recorded per script call. */
const CLICKS_PER_CALL = 5000;

type Script = (...args: Array<string | number | Buffer>) => Promise<number>;

/**
 * Exposure in Redis, keys under the state prefix P: P+sh:<user> (hash item ->
 * times shown), P+sht:<user> (zset item -> last shown, ms), P+rc:<user> (zset
 * item -> latest click time), P+ab:<scenario> (hash "<variant>:i" and
 * "<variant>:c" -> impressions and clicks). Per-user keys expire after the TTL.
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
    client.defineCommand('freshetRecordClicks', { numberOfKeys: 0, lua: RECORD_CLICKS });
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

  async recordClicks(clicks: readonly ClickSeen[]): Promise<void> {
    const { maxRecentClicks, ttlMs } = this.options;
    const run = this.script('freshetRecordClicks');
    // Bounded calls: a script holds Redis for its whole run.
    for (let from = 0; from < clicks.length; from += CLICKS_PER_CALL) {
      const byUser = new Map<string, ClickSeen[]>();
      for (const click of clicks.slice(from, from + CLICKS_PER_CALL)) {
        const list = byUser.get(click.userId);
        if (list === undefined) byUser.set(click.userId, [click]);
        else list.push(click);
      }
      const users = new Packer(byUser.size * 32);
      const counts = new Packer(byUser.size * 4);
      const inCall = Math.min(CLICKS_PER_CALL, clicks.length - from);
      const items = new Packer(inCall * 32);
      const times = new Packer(inCall * 8);
      byUser.forEach((list, userId) => {
        users.id(userId);
        counts.uint32(list.length);
        for (const { itemId, ts } of list) {
          items.id(itemId);
          times.put(8, (buf, at) => buf.writeDoubleLE(ts, at));
        }
      });
      await run(`${this.prefix}rc:`, maxRecentClicks, ttlMs, users.toBuffer(), counts.toBuffer(), items.toBuffer(), times.toBuffer());
    }
  }

  async recentClicks(userId: string, limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    return this.client.zrevrange(`${this.prefix}rc:${userId}`, 0, limit - 1);
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
