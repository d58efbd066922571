/**
 * Readers that turn public interaction data sets into `InteractionEvent`s in event-time order
 * (ties keep file order). Formats (all UTF-8/ASCII, LF or CRLF, blank lines ignored):
 *
 * - MovieLens `u.data`: `user\titem\trating\tunixSeconds`. Each rating is a `view`; a rating at or
 *   above the click threshold is also a `click` at the same time, right after its view.
 * - MIND `behaviors.tsv`: `impressionId\tuserId\ttime\thistory\timpressions`, time
 *   `M/D/YYYY h:mm:ss AM|PM` taken as UTC, impressions space-separated `NEWSID-1` (clicked) or
 *   `NEWSID-0` (shown). Each entry is a `view`, a `-1` also a `click` right after it.
 * - Kakao brunch `read/`: one file per hour named `YYYYMMDDHH_YYYYMMDDHH` (KST, UTC+9); each line
 *   is a reader id then the article ids read in that hour. Each read is a `click`, spread evenly
 *   over the hour in line order.
 *
 * `limit` always counts source records: ratings, impressions or reads.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FreshetError } from '../errors.ts';
import { ID_MAX_LENGTH, readTimestamp, type InteractionEvent } from '../events/schema.ts';

export type DatasetFormat = 'movielens' | 'mind' | 'brunch';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['movielens', 'mind', 'brunch'];

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `FRESHET_DATASETS_DIR` if set, else `../shared/datasets` relative to the repository root. */
export function datasetsDir(env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.FRESHET_DATASETS_DIR?.trim();
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return resolve(REPO_ROOT, '..', 'shared', 'datasets');
}

const DEFAULT_PATHS: Record<DatasetFormat, string> = {
  movielens: join('movielens-100k', 'u.data'),
  mind: join('mind-small-subset', 'behaviors.tsv'),
  brunch: join('kakao-brunch-read-1week', 'read'),
};

/** Where the shared data-set directory keeps the file (or folder) of a format. */
export function defaultDatasetPath(format: DatasetFormat, dir: string = datasetsDir()): string {
  return join(dir, DEFAULT_PATHS[format]);
}

export interface LimitOptions {
  /** Keep only the earliest N source records (ratings, impressions or reads). */
  limit?: number;
}

export interface MovieLensOptions extends LimitOptions {
  /** A rating at or above this is also a click. Default 4. */
  clickThreshold?: number;
  /** File name used in error messages of `movieLensEvents`. */
  file?: string;
}

export type EventsOptions = MovieLensOptions;

// ---------------------------------------------------------------- shared helpers

function invalid(file: string, line: number | undefined, what: string): FreshetError {
  const where = line === undefined ? file : `${file}:${line}`;
  return new FreshetError('dataset_invalid', `${where}: ${what}`, { context: { file, line } });
}

function clip(text: string, max = 40): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  }
  return limit;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new FreshetError('dataset_invalid', `${path}: cannot read (${code})`, { cause: err });
  }
}

/** Non-blank lines with their 1-based numbers; a trailing CR is dropped. */
function* numberedLines(lines: Iterable<string>): Generator<[number, string]> {
  let lineNo = 0;
  for (const raw of lines) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') yield [lineNo, line];
  }
}

function checkId(value: string, what: string, file: string, line: number): string {
  if (value === '' || value.length > ID_MAX_LENGTH) {
    throw invalid(file, line, `${what} must have 1 to ${ID_MAX_LENGTH} characters`);
  }
  return value;
}

function event(
  type: 'view' | 'click',
  userId: string,
  itemId: string,
  ts: number,
  eventId: string,
  source: string,
): InteractionEvent {
  return { type, userId, itemId, ts, eventId, source };
}

const UINT = /^\d{1,15}$/;

function decimalId(value: string, what: string, file: string, line: number): string {
  if (!UINT.test(value)) {
    throw invalid(file, line, `${what} must be a non-negative integer, got "${clip(value)}"`);
  }
  return String(Number(value));
}

function checkTs(ms: number, file: string, line: number): number {
  const ts = readTimestamp(ms, 'ts');
  if (typeof ts !== 'number') throw invalid(file, line, ts.reason);
  return ts;
}

// ---------------------------------------------------------------- MovieLens

export interface MovieLensRating {
  userId: string;
  itemId: string;
  rating: number;
  /** Epoch milliseconds. */
  ts: number;
}

export function parseMovieLensLine(line: string, file: string, lineNo: number): MovieLensRating {
  const fields = line.split('\t');
  if (fields.length !== 4) {
    throw invalid(
      file,
      lineNo,
      `expected 4 tab-separated fields (user, item, rating, unix seconds), got ${fields.length}`,
    );
  }
  const [user, item, rating, seconds] = fields as [string, string, string, string];
  const userId = decimalId(user, 'user id', file, lineNo);
  const itemId = decimalId(item, 'item id', file, lineNo);
  if (!/^\d{1,3}(?:\.\d+)?$/.test(rating)) {
    throw invalid(file, lineNo, `rating must be a non-negative number, got "${clip(rating)}"`);
  }
  if (!UINT.test(seconds)) {
    throw invalid(file, lineNo, `timestamp must be unix seconds, got "${clip(seconds)}"`);
  }
  const ts = checkTs(Number(seconds) * 1000, file, lineNo);
  return { userId, itemId, rating: Number(rating), ts };
}

/**
 * Events of MovieLens ratings, given as parsed ratings or as raw `u.data` lines (blank lines are
 * skipped; line numbers count every element). Sorted by time, ties in input order; `limit` keeps
 * the earliest N ratings. Does not modify its input.
 */
export function movieLensEvents(
  ratings: Iterable<MovieLensRating | string>,
  opts: MovieLensOptions = {},
): InteractionEvent[] {
  const limit = checkLimit(opts.limit);
  const threshold = opts.clickThreshold ?? 4;
  if (!Number.isFinite(threshold)) throw new RangeError('clickThreshold must be a finite number');
  const file = opts.file ?? 'u.data';
  const parsed: MovieLensRating[] = [];
  let lineNo = 0;
  for (const r of ratings) {
    lineNo++;
    if (typeof r !== 'string') {
      parsed.push(r);
      continue;
    }
    const line = r.endsWith('\r') ? r.slice(0, -1) : r;
    if (line.trim() !== '') parsed.push(parseMovieLensLine(line, file, lineNo));
  }
  parsed.sort((a, b) => a.ts - b.ts); // stable: ties keep input order
  const out: InteractionEvent[] = [];
  for (const r of parsed.slice(0, Math.min(limit, parsed.length))) {
    const base = `ml:${r.userId}:${r.itemId}`;
    out.push(event('view', r.userId, r.itemId, r.ts, `${base}:view`, 'movielens'));
    if (r.rating >= threshold) {
      out.push(event('click', r.userId, r.itemId, r.ts, `${base}:click`, 'movielens'));
    }
  }
  return out;
}

/** Loads a MovieLens `u.data` file whole and returns its events in time order. */
export async function readMovieLens(
  path: string,
  opts: MovieLensOptions = {},
): Promise<InteractionEvent[]> {
  const text = await readText(path);
  return movieLensEvents(text.split('\n'), { ...opts, file: opts.file ?? path });
}

// ---------------------------------------------------------------- MIND

export interface MindImpressionItem {
  itemId: string;
  clicked: boolean;
}

export interface MindImpression {
  impressionId: string;
  userId: string;
  /** Epoch milliseconds (the file's times are taken as UTC). */
  ts: number;
  /** Earlier clicks, oldest first, without timestamps. */
  history: string[];
  items: MindImpressionItem[];
}

const MIND_TIME = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ([AP]M)$/;

/** Parses MIND's `M/D/YYYY h:mm:ss AM|PM` as UTC; undefined when malformed or not a real date. */
export function parseMindTime(text: string): number | undefined {
  const m = MIND_TIME.exec(text);
  if (m === null) return undefined;
  const [month, day, year, hour12, minute, second] = m.slice(1, 7).map(Number) as number[];
  if (hour12 === undefined || hour12 < 1 || hour12 > 12) return undefined;
  if (minute === undefined || minute > 59 || second === undefined || second > 59) return undefined;
  const hour = (hour12 % 12) + (m[7] === 'PM' ? 12 : 0);
  const ms = Date.UTC(year ?? 0, (month ?? 0) - 1, day, hour, minute, second);
  const d = new Date(ms);
  if (d.getUTCMonth() !== (month ?? 0) - 1 || d.getUTCDate() !== day) return undefined;
  return ms;
}

function splitIds(text: string): string[] {
  return text.split(' ').filter((t) => t !== '');
}

type Fields5 = [string, string, string, string, string];

export function parseMindLine(line: string, file: string, lineNo: number): MindImpression {
  const fields = line.split('\t');
  if (fields.length !== 5) {
    throw invalid(
      file,
      lineNo,
      `expected 5 tab-separated fields (impression id, user, time, history, impressions), ` +
        `got ${fields.length}`,
    );
  }
  const [impression, user, time, history, shown] = fields as Fields5;
  const impressionId = checkId(impression, 'impression id', file, lineNo);
  const userId = checkId(user, 'user id', file, lineNo);
  const ms = parseMindTime(time);
  if (ms === undefined) {
    throw invalid(file, lineNo, `time must be M/D/YYYY h:mm:ss AM|PM, got "${clip(time)}"`);
  }
  const ts = checkTs(ms, file, lineNo);
  const items: MindImpressionItem[] = [];
  for (const token of splitIds(shown)) {
    const m = /^(.+)-([01])$/.exec(token);
    if (m === null) {
      throw invalid(file, lineNo, `impression must be NEWSID-0 or NEWSID-1, got "${clip(token)}"`);
    }
    items.push({ itemId: checkId(m[1] ?? '', 'news id', file, lineNo), clicked: m[2] === '1' });
  }
  if (items.length === 0) throw invalid(file, lineNo, 'impressions column is empty');
  return { impressionId, userId, ts, history: splitIds(history), items };
}

/** Parses `behaviors.tsv` lines, sorts impressions by time (stable) and keeps the first `limit`. */
export function mindImpressions(
  lines: Iterable<string>,
  opts: LimitOptions & { file?: string } = {},
): MindImpression[] {
  const limit = checkLimit(opts.limit);
  const file = opts.file ?? 'behaviors.tsv';
  const out: MindImpression[] = [];
  for (const [lineNo, line] of numberedLines(lines)) out.push(parseMindLine(line, file, lineNo));
  out.sort((a, b) => a.ts - b.ts);
  return out.length > limit ? out.slice(0, limit) : out;
}

/** View (and click) events of impressions, in the given order. */
export function mindEvents(impressions: Iterable<MindImpression>): InteractionEvent[] {
  const out: InteractionEvent[] = [];
  for (const imp of impressions) {
    for (const { itemId, clicked } of imp.items) {
      const base = `mind:${imp.impressionId}:${itemId}`;
      out.push(event('view', imp.userId, itemId, imp.ts, `${base}:view`, 'mind'));
      if (clicked) out.push(event('click', imp.userId, itemId, imp.ts, `${base}:click`, 'mind'));
    }
  }
  return out;
}

/** Loads MIND impressions whole, in time order; `limit` keeps the earliest N impressions. */
export async function readMindImpressions(
  path: string,
  opts: LimitOptions = {},
): Promise<MindImpression[]> {
  const text = await readText(path);
  return mindImpressions(text.split('\n'), { ...opts, file: path });
}

/** Events of the earliest `limit` MIND impressions, in time order. */
export async function readMind(path: string, opts: LimitOptions = {}): Promise<InteractionEvent[]> {
  return mindEvents(await readMindImpressions(path, opts));
}

// ---------------------------------------------------------------- Kakao brunch

export interface BrunchHour {
  /** Start of the hour bucket, epoch milliseconds (UTC). */
  startMs: number;
  endMs: number;
}

const KST_OFFSET_MS = 9 * 3600_000;

function kstHour(text: string): number | undefined {
  const [y, mo, d, h] = [text.slice(0, 4), text.slice(4, 6), text.slice(6, 8), text.slice(8, 10)]
    .map(Number) as [number, number, number, number];
  if (h > 23) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h);
  const date = new Date(ms);
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    return undefined;
  }
  return ms - KST_OFFSET_MS;
}

/** Parses a brunch file name `YYYYMMDDHH_YYYYMMDDHH` (KST) into UTC epoch milliseconds. */
export function parseBrunchFileName(name: string): BrunchHour | undefined {
  const m = /^(\d{10})_(\d{10})$/.exec(name);
  if (m === null) return undefined;
  const startMs = kstHour(m[1] ?? '');
  const endMs = kstHour(m[2] ?? '');
  if (startMs === undefined || endMs === undefined || endMs <= startMs) return undefined;
  return { startMs, endMs };
}

/**
 * Click events of one brunch hour file, given its name and text: the file's reads spread evenly
 * over [start, end) in line order. eventId `brunch:<name>:<line>:<pos>`, pos 1-based per line;
 * `file` names the file in error messages.
 */
export function* brunchFileEvents(
  name: string,
  text: string,
  file: string = name,
): Generator<InteractionEvent> {
  const hour = parseBrunchFileName(name);
  if (hour === undefined) {
    throw invalid(file, undefined, 'file name must be YYYYMMDDHH_YYYYMMDDHH (an hour, KST)');
  }
  const rows: [number, string[]][] = [];
  let reads = 0;
  for (const [lineNo, line] of numberedLines(text.split('\n'))) {
    const tokens = line.trim().split(/\s+/);
    tokens.forEach((t, i) => checkId(t, i === 0 ? 'reader id' : 'article id', file, lineNo));
    rows.push([lineNo, tokens]);
    reads += tokens.length - 1;
  }
  const span = hour.endMs - hour.startMs;
  let k = 0;
  for (const [lineNo, [userId, ...articles]] of rows) {
    let pos = 0;
    for (const itemId of articles) {
      pos++;
      const ts = hour.startMs + Math.floor((k++ * span) / reads);
      yield event('click', userId ?? '', itemId, ts, `brunch:${name}:${lineNo}:${pos}`, 'brunch');
    }
  }
}

async function brunchFiles(path: string): Promise<string[]> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new FreshetError('dataset_invalid', `${path}: cannot read (${code})`, { cause: err });
  }
  if (!isDir) return [path];
  const names = (await readdir(path)).filter((n) => !n.startsWith('.')).sort();
  return names.map((n) => join(path, n));
}

/**
 * Streams brunch reads file by file (a directory of hour files, sorted by name, or one hour file).
 * Holds at most one file in memory; `limit` stops after N reads.
 */
export async function* readBrunch(
  path: string,
  opts: LimitOptions = {},
): AsyncGenerator<InteractionEvent> {
  const limit = checkLimit(opts.limit);
  if (limit === 0) return;
  let emitted = 0;
  let previous: { file: string; endMs: number } | undefined;
  for (const file of await brunchFiles(path)) {
    const name = basename(file);
    const hour = parseBrunchFileName(name);
    if (hour === undefined) {
      throw invalid(file, undefined, 'file name must be YYYYMMDDHH_YYYYMMDDHH (an hour, KST)');
    }
    if (previous !== undefined && hour.startMs < previous.endMs) {
      throw invalid(file, undefined, `hour overlaps the previous file ${basename(previous.file)}`);
    }
    previous = { file, endMs: hour.endMs };
    const text = await readText(file);
    for (const event of brunchFileEvents(name, text, file)) {
      yield event;
      if (++emitted >= limit) return;
    }
  }
}

// ---------------------------------------------------------------- any format

async function* fromArray(
  load: () => Promise<InteractionEvent[]>,
): AsyncGenerator<InteractionEvent> {
  yield* await load();
}

/** Events of a data set as an async iterable; nothing is read until iteration starts. */
export function events(
  format: DatasetFormat,
  path: string,
  opts: EventsOptions = {},
): AsyncIterable<InteractionEvent> {
  switch (format) {
    case 'movielens':
      return fromArray(() => readMovieLens(path, opts));
    case 'mind':
      return fromArray(() => readMind(path, { limit: opts.limit }));
    case 'brunch':
      return readBrunch(path, { limit: opts.limit });
  }
}
