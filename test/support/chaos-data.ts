/**
 * Inputs of the chaos scenarios: good interaction events with known per-item
 * totals, and fuzzed messages that must each end in the dead-letter topic.
 * Everything is derived from a seed, so a failing run can be replayed.
 */

export type Random = () => number;

/** About the largest value (with a short key) a topic with Kafka's default max.message.bytes takes. */
export const MAX_RECORD_VALUE = 1_048_400;

/** A small, fast, seeded generator (mulberry32). */
export function seeded(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Totals {
  views: number;
  clicks: number;
}

export interface OutMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
}

export interface GoodEvent {
  type: 'view' | 'click';
  userId: string;
  itemId: string;
  ts: number;
}

export interface GoodEventOptions {
  users?: number;
  items?: number;
  /** Event time of the first event, ms; later events are spaced by `stepMs`. */
  start?: number;
  stepMs?: number;
  /** Prefix of every id, so that scenarios sharing a store never meet. */
  idPrefix?: string;
}

/**
 * Views and clicks by users on items; one in five is a click. No eventId: only
 * offsets keep an event from counting twice.
 */
export function goodEvents(
  count: number,
  seed: number,
  options: GoodEventOptions = {},
): GoodEvent[] {
  const random = seeded(seed);
  const users = options.users ?? 2_000;
  const items = options.items ?? 500;
  const stepMs = options.stepMs ?? 100;
  const start = options.start ?? Date.now() - count * stepMs - 3_600_000;
  const prefix = options.idPrefix ?? '';
  const out: GoodEvent[] = [];
  for (let i = 0; i < count; i++) {
    // A skewed item popularity, as in real traffic.
    const item = Math.floor(items * random() ** 2);
    out.push({
      type: random() < 0.2 ? 'click' : 'view',
      userId: `${prefix}u${Math.floor(random() * users)}`,
      itemId: `${prefix}i${item}`,
      ts: start + i * stepMs,
    });
  }
  return out;
}

export function toMessage(event: GoodEvent): OutMessage {
  return { key: event.userId, value: JSON.stringify(event) };
}

/** Exact per-item totals of the events, computed without the product's code. */
export function totalsOf(events: readonly GoodEvent[]): Map<string, Totals> {
  const totals = new Map<string, Totals>();
  for (const event of events) {
    const t = totals.get(event.itemId) ?? { views: 0, clicks: 0 };
    if (event.type === 'view') t.views++;
    else t.clicks++;
    totals.set(event.itemId, t);
  }
  return totals;
}

/** A fuzzed message and the field its rejection must name (`$` for the message as a whole). */
export interface BadMessage extends OutMessage {
  kind: string;
  field: string;
}

const KINDS = [
  'random-bytes',
  'non-utf8',
  'not-json',
  'json-scalar',
  'json-array',
  'deep-nesting',
  'empty',
  'tombstone',
  'wrong-type',
  'missing-user',
  'empty-user',
  'user-object',
  'negative-user',
  'long-user',
  'missing-item',
  'empty-item',
  'ts-string',
  'ts-missing',
  'ts-far-past',
  'ts-far-future',
  'ts-beyond-range',
  'long-source',
  'megabyte-field',
] as const;

function randomBytes(random: Random, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

/** Bytes that are not UTF-8 can't be JSON: 0xff never occurs in UTF-8. */
function nonUtf8(random: Random): Buffer {
  const body = Buffer.from(
    `{"type":"view","userId":"u${Math.floor(random() * 100)}","itemId":"x","ts":1}`,
  );
  const at = 1 + Math.floor(random() * (body.length - 2));
  return Buffer.concat([body.subarray(0, at), Buffer.from([0xff, 0xfe]), body.subarray(at)]);
}

/**
 * One fuzzed message of the given kind. `now` is the wall clock of the run and
 * `futureMs` the engine's tolerance for events ahead of it.
 */
export function badMessage(
  kind: (typeof KINDS)[number],
  random: Random,
  now: number,
  futureMs: number,
): BadMessage {
  const user = `bad-u${Math.floor(random() * 1000)}`;
  const base = { type: 'view', userId: user, itemId: 'bad-item', ts: now - 60_000 };
  const json = (value: unknown, field: string): BadMessage => ({
    kind,
    field,
    key: user,
    value: JSON.stringify(value),
  });
  switch (kind) {
    case 'random-bytes': {
      // A leading byte that can't start JSON keeps a random scalar from parsing by chance.
      const bytes = randomBytes(random, 1 + Math.floor(random() * 2048));
      bytes[0] = 0x80 + Math.floor(random() * 0x40);
      return { kind, field: '$', key: randomBytes(random, 8), value: bytes };
    }
    case 'non-utf8':
      return { kind, field: '$', key: user, value: nonUtf8(random) };
    case 'not-json':
      return { kind, field: '$', key: user, value: `{"type":"view","userId":"${user}"` };
    case 'json-scalar':
      return { kind, field: '$', key: user, value: String(Math.floor(random() * 1e6)) };
    case 'json-array':
      return json([base], '$');
    case 'deep-nesting': {
      const depth = 5_000 + Math.floor(random() * 25_000);
      return { kind, field: '$', key: user, value: '['.repeat(depth) + ']'.repeat(depth) };
    }
    case 'empty':
      return { kind, field: '$', key: user, value: Buffer.alloc(0) };
    case 'tombstone':
      return { kind, field: '$', key: user, value: null };
    case 'wrong-type':
      return json({ ...base, type: random() < 0.5 ? 42 : 'purchase' }, 'type');
    case 'missing-user': {
      const { userId: _, ...rest } = base;
      return json(rest, 'userId');
    }
    case 'empty-user':
      return json({ ...base, userId: '' }, 'userId');
    case 'user-object':
      return json({ ...base, userId: { id: user } }, 'userId');
    case 'negative-user':
      return json({ ...base, userId: -7 }, 'userId');
    case 'long-user':
      return json({ ...base, userId: 'u'.repeat(300) }, 'userId');
    case 'missing-item': {
      const { itemId: _, ...rest } = base;
      return json(rest, 'itemId');
    }
    case 'empty-item':
      return json({ ...base, itemId: '' }, 'itemId');
    case 'ts-string':
      return json({ ...base, ts: 'yesterday' }, 'ts');
    case 'ts-missing': {
      const { ts: _, ...rest } = base;
      return json(rest, 'ts');
    }
    case 'ts-far-past':
      return json({ ...base, ts: -86_400_000 * (1 + Math.floor(random() * 10_000)) }, 'ts');
    case 'ts-far-future':
      return json(
        { ...base, ts: now + futureMs + 86_400_000 * (1 + Math.floor(random() * 36_000)) },
        'ts',
      );
    case 'ts-beyond-range':
      return json({ ...base, ts: 1e300 }, 'ts');
    case 'long-source':
      return json({ ...base, source: 's'.repeat(2_000) }, 'source');
    case 'megabyte-field': {
      // As large as Kafka's default record limit allows (1 MiB), far over freshet's 64 KiB limit.
      const filler = MAX_RECORD_VALUE - JSON.stringify({ ...base, title: '' }).length;
      return json({ ...base, title: 't'.repeat(filler) }, '$');
    }
  }
}

export interface FuzzOptions {
  now: number;
  futureMs: number;
  /** How many megabyte messages at most: each costs a megabyte in Kafka twice. */
  megabytes?: number;
}

/** `count` fuzzed messages cycling through every kind, in a shuffled order. */
export function badMessages(count: number, seed: number, options: FuzzOptions): BadMessage[] {
  const random = seeded(seed);
  const out: BadMessage[] = [];
  let megabytes = 0;
  for (let i = 0; i < count; i++) {
    let kind = KINDS[i % KINDS.length] as (typeof KINDS)[number];
    if (kind === 'megabyte-field' && ++megabytes > (options.megabytes ?? 20)) kind = 'random-bytes';
    out.push(badMessage(kind, random, options.now, options.futureMs));
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as BadMessage, out[i] as BadMessage];
  }
  return out;
}

export const BAD_KINDS = KINDS;
