import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Campaign, CampaignState } from './campaign.ts';
import type { PushCounts } from './stats.ts';
import type { ActiveUser, DirtyCampaign, PushStore } from './store.ts';

const CLAIM = readFileSync(new URL('./claim.lua', import.meta.url), 'utf8');
const SAVE = readFileSync(new URL('./save.lua', import.meta.url), 'utf8');
const CREATE = `local p, id = ARGV[1], ARGV[2]
if not redis.call('SET', p .. 'push:c:' .. id, ARGV[3], 'NX') then return 0 end
redis.call('ZADD', p .. 'push:cs', ARGV[4], id)
redis.call('SADD', p .. 'push:live', id)
redis.call('ZADD', p .. 'push:dirty', 0, id)
return 1`;
const RELEASE = `if redis.call('GET', ARGV[1]) == ARGV[2] then redis.call('DEL', ARGV[1]) end
return 0`;
// Stopped campaigns created before ARGV[2], among the ARGV[3] oldest such, kept while live or
// (ARGV[4] = 1) while the analytics store has not received their last change.
const PRUNE = `local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', p .. 'push:cs', '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  local live = redis.call('SISMEMBER', p .. 'push:live', id) == 1
  local unwritten = ARGV[4] == '1' and redis.call('ZSCORE', p .. 'push:dirty', id)
  if not live and not unwritten then
    redis.call('UNLINK', p .. 'push:c:' .. id, p .. 'push:rcpt:' .. id, p .. 'push:open:' .. id, p .. 'push:lease:' .. id)
    redis.call('ZREM', p .. 'push:cs', id)
    redis.call('ZREM', p .. 'push:dirty', id)
    n = n + 1
  end
end
return n`;
const CLEAN = `if tonumber(redis.call('ZSCORE', ARGV[1], ARGV[2]) or '-1') == tonumber(ARGV[3]) then
  redis.call('ZREM', ARGV[1], ARGV[2])
end
return 0`;

/** Keys per round trip when reading many users. */
const CHUNK = 1000;

type Script = (...args: Array<string | number>) => Promise<unknown>;

/**
 * The push loop's state in Redis, next to the engine's state (same client and
 * prefix P). Written by the commit script: P+push:stat:<user> and P+push:stat
 * (hash sends, opens), P+push:open:<campaign> (set of openers), P+push:active
 * (zset user → latest activity). Written here: P+push:c:<id> (campaign JSON),
 * P+push:cs (zset id → created), P+push:live (set), P+push:lease:<id>,
 * P+push:cap:<user> (campaign id, expires with the cap window),
 * P+push:rcpt:<id> (hash user → stage), P+push:dirty (zset id → version).
 *
 * Stopped campaigns are deleted with their recipients and openers once past the push loop's
 * retention (`prune`).
 * Known gap: an open that arrives after its campaign was deleted writes push:open:<id> again,
 * with no expiry.
 */
export class RedisPushStore implements PushStore {
  private readonly client: Redis;
  private readonly prefix: string;

  constructor(client: Redis, prefix: string) {
    this.client = client;
    this.prefix = prefix;
    for (const [name, lua] of Object.entries({
      pushClaim: CLAIM,
      pushSave: SAVE,
      pushCreate: CREATE,
      pushRelease: RELEASE,
      pushClean: CLEAN,
      pushPrune: PRUNE,
    })) {
      if (!(name in client)) client.defineCommand(name, { numberOfKeys: 0, lua });
    }
  }

  private script(name: string): Script {
    const fn = (this.client as unknown as Record<string, Script>)[name] as Script;
    return fn.bind(this.client);
  }

  async userCounts(userIds: readonly string[]): Promise<PushCounts[]> {
    const out: PushCounts[] = [];
    for (let i = 0; i < userIds.length; i += CHUNK) {
      const pipeline = this.client.pipeline();
      for (const id of userIds.slice(i, i + CHUNK)) {
        pipeline.hmget(`${this.prefix}push:stat:${id}`, 'sends', 'opens');
      }
      for (const [err, value] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        const [sends, opens] = value as Array<string | null>;
        out.push({ sends: Number(sends ?? 0), opens: Number(opens ?? 0) });
      }
    }
    return out;
  }

  async totals(): Promise<PushCounts> {
    const [sends, opens] = await this.client.hmget(`${this.prefix}push:stat`, 'sends', 'opens');
    return { sends: Number(sends ?? 0), opens: Number(opens ?? 0) };
  }

  async openers(campaignId: string): Promise<string[]> {
    return this.client.smembers(`${this.prefix}push:open:${campaignId}`);
  }

  async activeUsers(since: number): Promise<ActiveUser[]> {
    const out: ActiveUser[] = [];
    for (let offset = 0; ; offset += CHUNK * 10) {
      const flat = await this.client.zrangebyscore(
        `${this.prefix}push:active`,
        since,
        '+inf',
        'WITHSCORES',
        'LIMIT',
        offset,
        CHUNK * 10,
      );
      for (let i = 0; i + 1 < flat.length; i += 2) {
        out.push({ userId: flat[i] as string, lastActive: Number(flat[i + 1]) });
      }
      if (flat.length < CHUNK * 20) return out;
    }
  }

  async trimActive(before: number): Promise<void> {
    await this.client.zremrangebyscore(`${this.prefix}push:active`, '-inf', `(${before}`);
  }

  async create(campaign: Campaign): Promise<boolean> {
    const created = await this.script('pushCreate')(
      this.prefix,
      campaign.id,
      JSON.stringify(campaign),
      campaign.createdAt,
    );
    return created === 1;
  }

  async get(id: string): Promise<Campaign | undefined> {
    const json = await this.client.get(`${this.prefix}push:c:${id}`);
    return json === null ? undefined : (JSON.parse(json) as Campaign);
  }

  async list(limit: number, state?: CampaignState): Promise<Campaign[]> {
    const out: Campaign[] = [];
    const page = Math.max(limit, 100);
    for (let start = 0; out.length < limit; start += page) {
      const ids = await this.client.zrevrange(`${this.prefix}push:cs`, start, start + page - 1);
      if (ids.length === 0) break;
      const values = await this.client.mget(...ids.map((id) => `${this.prefix}push:c:${id}`));
      for (const json of values) {
        if (json === null) continue;
        const c = JSON.parse(json) as Campaign;
        if (state === undefined || c.state === state) out.push(c);
      }
      if (ids.length < page) break;
    }
    return out.slice(0, limit);
  }

  async live(): Promise<string[]> {
    return this.client.smembers(`${this.prefix}push:live`);
  }

  async save(campaign: Campaign): Promise<Campaign | undefined> {
    const next = { ...campaign, version: campaign.version + 1 };
    const live = campaign.state === 'stopped' ? '0' : '1';
    const saved = await this.script('pushSave')(
      this.prefix,
      campaign.id,
      campaign.version,
      JSON.stringify(next),
      live,
    );
    return saved === 1 ? next : undefined;
  }

  async lease(id: string, owner: string, _now: number, ttlMs: number): Promise<boolean> {
    const key = `${this.prefix}push:lease:${id}`;
    if ((await this.client.set(key, owner, 'PX', ttlMs, 'NX')) === 'OK') return true;
    // Our own lease: extend it.
    return (await this.client.get(key)) === owner && (await this.client.pexpire(key, ttlMs)) === 1;
  }

  async release(id: string, owner: string): Promise<void> {
    await this.script('pushRelease')(`${this.prefix}push:lease:${id}`, owner);
  }

  async capHolders(userIds: readonly string[], _now?: number): Promise<Array<string | null>> {
    const out: Array<string | null> = [];
    for (let i = 0; i < userIds.length; i += CHUNK) {
      const keys = userIds.slice(i, i + CHUNK).map((id) => `${this.prefix}push:cap:${id}`);
      if (keys.length > 0) out.push(...(await this.client.mget(...keys)));
    }
    return out;
  }

  async claim(
    campaignId: string,
    stage: number,
    userIds: readonly string[],
    _now: number,
    windowMs: number,
  ): Promise<string[]> {
    const claimed: string[] = [];
    for (let i = 0; i < userIds.length; i += CHUNK) {
      const chunk = userIds.slice(i, i + CHUNK);
      if (chunk.length === 0) continue;
      const result = await this.script('pushClaim')(
        this.prefix,
        campaignId,
        stage,
        Math.round(windowMs),
        ...chunk,
      );
      claimed.push(...(result as string[]));
    }
    return claimed;
  }

  async recipients(campaignId: string): Promise<Map<string, number>> {
    const all = await this.client.hgetall(`${this.prefix}push:rcpt:${campaignId}`);
    return new Map(Object.entries(all).map(([user, stage]) => [user, Number(stage)]));
  }

  async dirty(limit: number): Promise<DirtyCampaign[]> {
    const flat = await this.client.zrange(`${this.prefix}push:dirty`, 0, limit - 1, 'WITHSCORES');
    const out: DirtyCampaign[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      out.push({ id: flat[i] as string, version: Number(flat[i + 1]) });
    }
    return out;
  }

  async clean(entry: DirtyCampaign): Promise<void> {
    await this.script('pushClean')(`${this.prefix}push:dirty`, entry.id, entry.version);
  }

  async prune(createdBefore: number, limit: number, keepUnwritten: boolean): Promise<number> {
    const pruned = await this.script('pushPrune')(this.prefix, createdBefore, limit, keepUnwritten ? 1 : 0);
    return pruned as number;
  }

  /** The client belongs to the state store, which closes it. */
  async close(): Promise<void> {}
}
