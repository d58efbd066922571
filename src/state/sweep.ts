import type { Logger } from '../log.ts';

/** Items a sweep removes at most in one call, and in one commit. */
export const SWEEP_LIMIT = 1000;

/**
 * Lua shared by the commit script and the idle sweep:
 * - `nowMs()`: Redis's clock in ms;
 * - `sweepItems(p, before, limit)`: removes the items last written before `before` (ms, the
 *   change sequence's scores) from the change sequence and the trending set and deletes their
 *   record (and an earlier version's counters), at most `limit`, oldest first; returns how many.
 * Item keys carry no TTL of their own (a SET with PX per item and batch cost more than the whole
 * sweep), so this is how they expire.
 */
export const LUA_SWEEP_ITEMS = `local SWEEP_LIMIT = ${SWEEP_LIMIT}
local function nowMs()
  local now = redis.call('TIME')
  return now[1] * 1000 + math.floor(now[2] / 1000)
end
local function sweepItems(p, before, limit)
  local gone = redis.call('ZRANGEBYSCORE', p .. 'iseq', '-inf', '(' .. before, 'LIMIT', 0, limit)
  if #gone > 0 then
    redis.call('ZREM', p .. 'iseq', unpack(gone))
    redis.call('ZREM', p .. 'trend', unpack(gone))
    local keys = {}
    for _, id in ipairs(gone) do
      keys[#keys + 1] = p .. 'i:' .. id
      keys[#keys + 1] = p .. 'ic:' .. id
    end
    redis.call('UNLINK', unpack(keys))
  end
  return #gone
end
`;

/** The idle sweep: items not written for ARGV[2] ms by Redis's clock, at most ARGV[3] of them. */
export const SWEEP_SCRIPT = `${LUA_SWEEP_ITEMS}
return sweepItems(ARGV[1], nowMs() - tonumber(ARGV[2]), tonumber(ARGV[3]))
`;

export interface ExpirySweeperOptions {
  /** Removes up to `limit` expired entries; resolves with how many it removed. */
  sweep: (limit: number) => Promise<number>;
  intervalMs: number;
  logger: Logger;
}

/**
 * Sweeps expired entries on a timer. Commits sweep as they write, so this matters when the input
 * goes quiet: without it an idle engine would keep expired items in Redis, or anything expired
 * in its in-process state, until the next event.
 * Each tick sweeps until a call removes fewer than SWEEP_LIMIT, so a backlog drains in one tick,
 * a thousand at a time. Several engines may sweep at once: each call is one atomic script.
 */
export class ExpirySweeper {
  private readonly options: ExpirySweeperOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failing = false;

  constructor(options: ExpirySweeperOptions) {
    this.options = options;
  }

  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => {
        this.running = undefined;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async tick(): Promise<void> {
    let removed = 0;
    try {
      for (;;) {
        const n = await this.options.sweep(SWEEP_LIMIT);
        removed += n;
        if (n < SWEEP_LIMIT || this.stopped) break;
      }
      if (this.failing) this.options.logger.info('expired entries swept again');
      this.failing = false;
    } catch (err) {
      // Once per outage: the next ticks retry.
      if (!this.failing) this.options.logger.warn({ err }, 'expired entries not swept; retrying on the next tick');
      this.failing = true;
    }
    if (removed > 0) this.options.logger.debug({ removed }, 'expired entries swept');
  }
}
