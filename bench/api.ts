import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { decayFactor, decayRate } from '../src/model/decay.ts';
import { DEFAULT_MODEL_PARAMS } from '../src/model/params.ts';
import { clickedItems, decodeItem, decodeUser, type ItemRecord } from '../src/model/records.ts';
import { TopK } from '../src/model/topk.ts';
import { CLICKED_MAX_ITEMS } from '../src/state/store.ts';

const run = promisify(execFile);

/**
 * Unmeasured seconds at the measured rate before each measurement: the load generator's own
 * start (compiling, opening connections) would otherwise show in the engine's tail latency.
 */
const WARMUP_SECONDS = 2;

export interface LoadResult {
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface ApiResult {
  items: number;
  rate: number;
  /** Every request for a user not asked before: no answer can be reused. */
  distinct: LoadResult;
  /** The same users again, unchanged state: answers are reused. */
  repeated: LoadResult;
  /** Share of the API's top-10 found in the exact top-10, over sampled users. */
  agreement: number;
}

interface Index {
  ids: string[];
  records: ItemRecord[];
}

async function loadItems(redis: Redis, prefix: string, dimensions: number): Promise<Index> {
  const ids = await redis.zrange(`${prefix}iseq`, 0, -1);
  const records: ItemRecord[] = [];
  const kept: string[] = [];
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    const bufs = await redis.mgetBuffer(...chunk.map((id) => `${prefix}i:${id}`));
    chunk.forEach((id, j) => {
      const buf = bufs[j];
      const record = buf ? decodeItem(buf, dimensions) : undefined;
      if (record) {
        kept.push(id);
        records.push(record);
      }
    });
  }
  return { ids: kept, records };
}

/** The exact top-k for a user, computed here from the stored state, independently of the API. */
async function exactTopK(redis: Redis, prefix: string, index: Index, userId: string, k: number, clock: number) {
  const dimensions = DEFAULT_MODEL_PARAMS.dimensions;
  const buf = await redis.getBuffer(`${prefix}u:${userId}`);
  const user = buf ? decodeUser(buf, dimensions) : undefined;
  if (!user) return undefined;
  // The engine excludes the newest CLICKED_MAX_ITEMS (its default cap) of them.
  const clicked = new Set(clickedItems(buf as Buffer, dimensions, CLICKED_MAX_ITEMS));
  const rate = decayRate(DEFAULT_MODEL_PARAMS.halfLifeMs.item);
  const top = new TopK(k);
  index.records.forEach((item, row) => {
    const id = index.ids[row] as string;
    if (clicked.has(id)) return;
    let score = item.bias * decayFactor(rate, item.ts, clock);
    for (let f = 0; f < dimensions; f++) score += (user.vec[f] as number) * (item.vec[f] as number);
    top.push(id, score);
  });
  return top.result().map((s) => s.id);
}

/**
 * Recommendations under an open-loop load from a second process, then the
 * agreement of the served top-10 with exact scoring for a sample of users.
 */
export async function benchApi(
  url: string,
  redisUrl: string,
  prefix: string,
  userIds: readonly string[],
  rate: number,
  seconds: number,
  log: (line: string) => void,
): Promise<ApiResult> {
  const redis = new Redis(redisUrl);
  const index = await loadItems(redis, prefix, DEFAULT_MODEL_PARAMS.dimensions);
  const clock = Number((await redis.get(`${prefix}clock`)) ?? 0);
  const idsFile = join(tmpdir(), `freshet-bench-users-${process.pid}.txt`);

  const template = `${url}/v1/users/{id}/recommendations?k=10`;
  const warmupFile = join(tmpdir(), `freshet-bench-warmup-${process.pid}.txt`);
  /** A load of `duration` seconds over `ids`, after `warmup` unmeasured seconds at the same rate over `warmupIds`. */
  const load = async (
    ids: readonly string[],
    requestRate: number,
    duration: number,
    warmupIds: readonly string[] = [],
  ): Promise<LoadResult> => {
    writeFileSync(idsFile, ids.join('\n'));
    const args = ['bench/load.ts', template, String(requestRate), String(duration), idsFile];
    if (warmupIds.length > 0) {
      writeFileSync(warmupFile, warmupIds.join('\n'));
      args.push(String(WARMUP_SECONDS), warmupFile);
    }
    const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20 });
    return JSON.parse(stdout) as LoadResult;
  };
  const warm = userIds.slice(0, 400);
  const measured = userIds.slice(400, 400 + Math.round(rate * seconds));
  // Users for the warm-up before the measured new users: never asked either, and not measured;
  // with too few users left, the warm-up asks the users asked before instead.
  const unasked = userIds.slice(400 + measured.length, 400 + measured.length + Math.round(rate * WARMUP_SECONDS));
  const fresh = unasked.length > 0 ? unasked : warm;
  log(`api: warming up on ${warm.length} users (the index layout runs in the background)`);
  await load(warm, 100, 4);
  // Measured against a settled index: laid out again after the ingest's last changes (the load
  // asks the index, which starts the layout, at most every 30 s), with no added items left to
  // score for every request and no layout due to take over during the measurement.
  const settledBy = Date.now() + 75_000;
  for (;;) {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^freshet_${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN);
    const unplaced = gauge('index_unplaced_items');
    const changed = gauge('index_changed_items');
    if ((unplaced === 0 && changed === 0) || Date.now() > settledBy) {
      log(`api: index settled with ${unplaced} added items to score per request, ${changed} changes since its layout`);
      break;
    }
    await load(warm.slice(0, 50), 50, 1);
  }
  log(
    `api: ${rate} requests/s for ${seconds} s over ${index.ids.length.toLocaleString()} items, ${measured.length.toLocaleString()} distinct users ` +
      `(after ${WARMUP_SECONDS} s over ${fresh.length.toLocaleString()} ${unasked.length > 0 ? 'others never asked' : 'users asked before'}), then the same users again`,
  );
  const distinct = await load(measured, rate, seconds, fresh);
  const repeated = await load(measured, rate, seconds, measured);

  let agree = 0;
  let total = 0;
  for (const userId of userIds.slice(0, 200)) {
    const exact = await exactTopK(redis, prefix, index, userId, 10, clock);
    if (!exact) continue;
    const body = (await (await fetch(`${url}/v1/users/${encodeURIComponent(userId)}/recommendations?k=10`)).json()) as {
      items: Array<{ itemId: string }>;
    };
    const served = new Set(body.items.map((i) => i.itemId));
    agree += exact.filter((id) => served.has(id)).length;
    total += exact.length;
  }
  redis.disconnect();
  rmSync(idsFile, { force: true });
  rmSync(warmupFile, { force: true });
  return {
    items: index.ids.length,
    rate,
    distinct,
    repeated,
    agreement: total > 0 ? agree / total : Number.NaN,
  };
}
