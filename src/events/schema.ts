/**
 * Event schema v1. One JSON object per Kafka message (key = userId) or per
 * array element / NDJSON line over HTTP.
 */
export const INTERACTION_TYPES = ['view', 'click', 'push_sent', 'push_open'] as const;
export type InteractionType = (typeof INTERACTION_TYPES)[number];

export interface InteractionEvent {
  type: InteractionType;
  userId: string;
  itemId: string;
  /** Event time, epoch milliseconds. */
  ts: number;
  eventId?: string;
  source?: string;
  campaignId?: string;
  variant?: string;
}

/** A content-published event, on its own topic (key = itemId). */
export interface ContentEvent {
  itemId: string;
  /** Publication time, epoch milliseconds. */
  publishedAt: number;
  category?: string;
  title?: string;
  ttlSeconds?: number;
}

export interface Rejection {
  /** The offending field, or `$` for the message as a whole. */
  field: string;
  reason: string;
}

export type Validated<T> = { ok: true; value: T } | ({ ok: false } & Rejection);

export const ID_MAX_LENGTH = 256;
const TEXT_MAX_LENGTH = 1024;
/** Longest lifetime a content may give its push campaign: a year, as PUSH_EXPIRY_MS. */
const TTL_SECONDS_MAX = 365 * 86_400;
/** Earliest accepted event time: 1970-01-01. Data sets such as MovieLens start in 1997. */
const TS_MIN = 0;
/** Latest representable event time accepted by validation (year 2200); clock skew is judged later. */
const TS_MAX = 7258118400000;
/** A date (read as UTC midnight), or a date-time with its zone: without one it would be read in the server's zone. */
const ISO_8601 =
  /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2}))?$/;

function reject(field: string, reason: string): { ok: false } & Rejection {
  return { ok: false, field, reason };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An id is a non-empty string (or a non-negative safe integer, taken as its decimal string). */
function readId(obj: Record<string, unknown>, field: string): string | Rejection {
  const raw = obj[field];
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return String(raw);
  if (typeof raw !== 'string') {
    return { field, reason: `${field} is required and must be a non-empty string or a non-negative safe integer` };
  }
  if (raw.length === 0 || raw.length > ID_MAX_LENGTH) {
    return { field, reason: `${field} must have 1 to ${ID_MAX_LENGTH} characters` };
  }
  // A lone surrogate has no UTF-8 form: Redis would store it as U+FFFD, merging distinct ids.
  if (!raw.isWellFormed()) return { field, reason: `${field} must be well-formed Unicode (it holds a lone surrogate)` };
  return raw;
}

function readOptionalText(obj: Record<string, unknown>, field: string): string | undefined | Rejection {
  const raw = obj[field];
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string' || raw.length > TEXT_MAX_LENGTH) {
    return { field, reason: `${field} must be a string of at most ${TEXT_MAX_LENGTH} characters` };
  }
  return raw;
}

/**
 * Why an event dated `ts` is refused when `now` is the wall clock: more than `maxFutureMs` ahead.
 * `field`: the time's field, `ts` or a content's `publishedAt`.
 */
export function tooFarAhead(ts: number, now: number, maxFutureMs: number, field = 'ts'): Rejection | undefined {
  if (ts <= now + maxFutureMs) return undefined;
  return { field, reason: `${field} is more than ${maxFutureMs} ms ahead of the clock` };
}

/** Whether the YYYY-MM-DD that starts `iso` names a day of the calendar. */
function isCalendarDate(iso: string): boolean {
  const year = Number(iso.slice(0, 4));
  const month = Number(iso.slice(5, 7));
  const day = Number(iso.slice(8, 10));
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parses a timestamp given as epoch milliseconds or an ISO-8601 string. */
export function readTimestamp(raw: unknown, field: string): number | Rejection {
  let ms: number;
  if (typeof raw === 'number') {
    ms = raw;
  } else if (typeof raw === 'string' && ISO_8601.test(raw)) {
    ms = Date.parse(raw);
    // The parser moves 02-30 to 03-02 and refuses 23:59:60: neither is out of range.
    if (Number.isNaN(ms) || !isCalendarDate(raw)) return { field, reason: `${field} is not a valid date-time` };
  } else {
    const required = raw === undefined || raw === null ? ' is required and' : '';
    return { field, reason: `${field}${required} must be epoch milliseconds, or an ISO-8601 date-time with a zone (Z or ±hh:mm)` };
  }
  if (!Number.isFinite(ms) || ms < TS_MIN || ms > TS_MAX) {
    return { field, reason: `${field} is out of range (1970-01-01 to 2200-01-01)` };
  }
  return Math.floor(ms);
}

function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && 'reason' in value;
}

export function validateInteraction(input: unknown): Validated<InteractionEvent> {
  if (!isRecord(input)) return reject('$', 'event must be a JSON object');

  const type = input.type;
  if (typeof type !== 'string' || !(INTERACTION_TYPES as readonly string[]).includes(type)) {
    return reject('type', `type must be one of ${INTERACTION_TYPES.join(', ')}`);
  }
  const userId = readId(input, 'userId');
  if (isRejection(userId)) return { ok: false, ...userId };
  const itemId = readId(input, 'itemId');
  if (isRejection(itemId)) return { ok: false, ...itemId };
  const ts = readTimestamp(input.ts, 'ts');
  if (isRejection(ts)) return { ok: false, ...ts };

  const event: InteractionEvent = { type: type as InteractionType, userId, itemId, ts };
  for (const field of ['eventId', 'source', 'campaignId', 'variant'] as const) {
    const text = readOptionalText(input, field);
    if (isRejection(text)) return { ok: false, ...text };
    if (text !== undefined) event[field] = text;
  }
  return { ok: true, value: event };
}

export function validateContent(input: unknown): Validated<ContentEvent> {
  if (!isRecord(input)) return reject('$', 'content event must be a JSON object');

  const itemId = readId(input, 'itemId');
  if (isRejection(itemId)) return { ok: false, ...itemId };
  const publishedAt = readTimestamp(input.publishedAt, 'publishedAt');
  if (isRejection(publishedAt)) return { ok: false, ...publishedAt };

  const event: ContentEvent = { itemId, publishedAt };
  for (const field of ['category', 'title'] as const) {
    const text = readOptionalText(input, field);
    if (isRejection(text)) return { ok: false, ...text };
    if (text !== undefined) event[field] = text;
  }
  const ttl = input.ttlSeconds;
  if (ttl !== undefined && ttl !== null) {
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0 || ttl > TTL_SECONDS_MAX) {
      return reject('ttlSeconds', `ttlSeconds must be an integer from 1 to ${TTL_SECONDS_MAX} (365 days)`);
    }
    event.ttlSeconds = ttl;
  }
  return { ok: true, value: event };
}
