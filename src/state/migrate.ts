import { ReplyError, type Redis } from 'ioredis';
import type { Logger } from '../log.ts';

/**
 * Folds one group of users' clicked items from the earlier layout into the current one. Before,
 * a user had a set P+clk:<user> (every clicked item) and a zset P+rc:<user> (the latest clicks
 * with their times); now one zset P+cl:<user> holds both. Items known only from the set get
 * time 0, below every timed click. A new record takes the old set's TTL; one the user already
 * has keeps its own, or the old one if that is longer. A user whose current key is of another
 * type is left alone. A recent-clicks zset without a set is not read: it carries a TTL of its
 * own and expires.
 */
const FOLD = `
local p, cap, folded = ARGV[1], tonumber(ARGV[2]), 0
for a = 3, #ARGV do
  local clk, rc, cl = p .. 'clk:' .. ARGV[a], p .. 'rc:' .. ARGV[a], p .. 'cl:' .. ARGV[a]
  local target = redis.call('TYPE', cl).ok
  if redis.call('TYPE', clk).ok == 'set' and (target == 'none' or target == 'zset') then
    -- Before the fold: -2 no key, -1 no TTL, else ms left.
    local oldTtl, newTtl = redis.call('PTTL', clk), redis.call('PTTL', cl)
    -- Set-only items all rank at time 0, so any cap of them will do: a huge set is not read whole.
    local members
    if redis.call('SCARD', clk) > cap then members = redis.call('SRANDMEMBER', clk, cap)
    else members = redis.call('SMEMBERS', clk) end
    for from = 1, #members, 500 do
      local scored = {}
      for n = from, math.min(from + 499, #members) do
        scored[#scored + 1] = 0
        scored[#scored + 1] = members[n]
      end
      redis.call('ZADD', cl, 'NX', unpack(scored))
    end
    if redis.call('TYPE', rc).ok == 'zset' then
      local recent = redis.call('ZRANGE', rc, 0, -1, 'WITHSCORES')
      for n = 1, #recent, 2 do redis.call('ZADD', cl, 'GT', recent[n + 1], recent[n]) end
    end
    redis.call('ZREMRANGEBYRANK', cl, 0, -(cap + 1))
    if oldTtl > 0 and (newTtl == -2 or newTtl > 0 and newTtl < oldTtl) then redis.call('PEXPIRE', cl, oldTtl) end
    redis.call('UNLINK', clk, rc)
    folded = folded + 1
  end
end
return folded`;

/** `text` matched literally in a SCAN MATCH pattern: a prefix may hold *, ?, [ or a backslash. */
function globEscaped(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Marks a prefix whose clicked items are all in the current layout. */
const DONE = 'layout:clicked';

/**
 * Whether `err` is Redis refusing a command for good (no permission, a script error, a wrong
 * type), which no retry mends, rather than a connection lost or a server busy for a while.
 */
export function isRedisRefusal(err: unknown): boolean {
  if (!(err instanceof ReplyError)) return false;
  return !/^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|READONLY|OOM|CLUSTERDOWN|NOREPLICAS)\b/.test((err as Error).message);
}

/**
 * Moves clicked items stored in the earlier layout (P+clk:<user>, P+rc:<user>) into P+cl:<user>,
 * SCAN by SCAN, and marks the prefix done so that later starts skip the scan. Safe to run in
 * several processes at once and to stop at any point; `stopped` is checked between steps.
 * Resolves with the number of users moved.
 */
export async function foldClickedLayout(
  client: Redis,
  prefix: string,
  cap: number,
  logger: Logger,
  stopped: () => boolean = () => false,
): Promise<number> {
  if ((await client.exists(`${prefix}${DONE}`)) === 1) return 0;
  // Every commit of every layout writes the stored offsets: without them nothing was ever stored
  // under this prefix, and there is nothing to scan for.
  if ((await client.exists(`${prefix}off`)) === 0) {
    await client.set(`${prefix}${DONE}`, '1');
    return 0;
  }
  const old = `${prefix}clk:`;
  let cursor = '0';
  let moved = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${globEscaped(old)}*`, 'COUNT', 1000);
    const users = keys.map((key) => key.slice(old.length));
    for (let i = 0; i < users.length; i += 100) {
      moved += Number(await client.eval(FOLD, 0, prefix, cap, ...users.slice(i, i + 100)));
    }
    cursor = next;
    if (stopped()) return moved;
  } while (cursor !== '0');
  await client.set(`${prefix}${DONE}`, '1');
  if (moved > 0) logger.info({ users: moved }, 'clicked items moved to the current layout');
  return moved;
}
