import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { FreshetError } from '../../src/errors.ts';
import type { InteractionEvent } from '../../src/events/schema.ts';
import {
  brunchFileEvents,
  datasetsDir,
  defaultDatasetPath,
  events,
  mindEvents,
  mindImpressions,
  movieLensEvents,
  parseBrunchFileName,
  parseMindTime,
  readBrunch,
  readMind,
  readMindImpressions,
  readMovieLens,
} from '../../src/sources/datasets.ts';

const DIR = datasetsDir();
const HOUR = 3600_000;

/** The data set path, or a skip (a failure under CI=true) when it is missing. */
function dataset(ctx: TestContext, rel: string): string {
  const path = join(DIR, rel);
  if (existsSync(path)) return path;
  const why = `data set not found at ${path} (set FRESHET_DATASETS_DIR)`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true requires the data sets`);
  return ctx.skip(why);
}

async function collect(source: AsyncIterable<InteractionEvent>): Promise<InteractionEvent[]> {
  const out: InteractionEvent[] = [];
  for await (const e of source) out.push(e);
  return out;
}

function expectTimeOrder(list: readonly InteractionEvent[]): void {
  let bad = 0;
  for (let i = 1; i < list.length; i++) if (list[i]!.ts < list[i - 1]!.ts) bad++;
  expect(bad).toBe(0);
}

function expectDatasetError(fn: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FreshetError);
  expect((caught as FreshetError).code).toBe('dataset_invalid');
  for (const f of fragments) expect((caught as Error).message).toContain(f);
}

describe('datasetsDir', () => {
  it('uses FRESHET_DATASETS_DIR when set', () => {
    expect(datasetsDir({ FRESHET_DATASETS_DIR: '/data/sets' })).toBe('/data/sets');
    expect(datasetsDir({ FRESHET_DATASETS_DIR: 'rel' })).toBe(resolve('rel'));
  });

  it('defaults to ../shared/datasets next to the repository root', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const expected = resolve(root, '..', 'shared', 'datasets');
    expect(datasetsDir({})).toBe(expected);
    expect(datasetsDir({ FRESHET_DATASETS_DIR: '  ' })).toBe(expected);
  });

  it('knows each format default path', () => {
    expect(defaultDatasetPath('movielens', '/d')).toBe('/d/movielens-100k/u.data');
    expect(defaultDatasetPath('mind', '/d')).toBe('/d/mind-small-subset/behaviors.tsv');
    expect(defaultDatasetPath('brunch', '/d')).toBe('/d/kakao-brunch-read-1week/read');
  });
});

describe('movieLensEvents (synthetic)', () => {
  const lines = ['7\t10\t5\t300', '3\t11\t2\t100', '', '4\t12\t4\t300', '05\t013\t3\t200\r'];

  it('sorts by time keeping file order for ties, a click right after a high view', () => {
    const out = movieLensEvents(lines);
    expect(out.map((e) => e.eventId)).toEqual([
      'ml:3:11:view',
      'ml:5:13:view',
      'ml:7:10:view',
      'ml:7:10:click',
      'ml:4:12:view',
      'ml:4:12:click',
    ]);
    expect(out[0]).toEqual({
      type: 'view',
      userId: '3',
      itemId: '11',
      ts: 100_000,
      eventId: 'ml:3:11:view',
      source: 'movielens',
    });
    expect(out[3]).toMatchObject({ type: 'click', userId: '7', itemId: '10', ts: 300_000 });
  });

  it('limit counts ratings, not events; clickThreshold is honoured', () => {
    expect(movieLensEvents(lines, { limit: 3 }).map((e) => e.eventId)).toEqual([
      'ml:3:11:view',
      'ml:5:13:view',
      'ml:7:10:view',
      'ml:7:10:click',
    ]);
    expect(movieLensEvents(lines, { limit: 0 })).toEqual([]);
    const clicks = movieLensEvents(lines, { clickThreshold: 2 }).filter((e) => e.type === 'click');
    expect(clicks).toHaveLength(4);
  });

  it('accepts parsed ratings and leaves its input alone', () => {
    const ratings = [
      { userId: 'a', itemId: 'x', rating: 5, ts: 2 },
      { userId: 'b', itemId: 'y', rating: 1, ts: 1 },
    ];
    const out = movieLensEvents(ratings);
    expect(out.map((e) => e.userId)).toEqual(['b', 'a', 'a']);
    expect(ratings[0]!.userId).toBe('a');
  });

  it('names file and line of a bad rating', () => {
    const file = { file: 'u.data' };
    expectDatasetError(() => movieLensEvents(['1\t2\t3\t4', '1\t2\t3'], file), 'u.data:2', '4 tab');
    expectDatasetError(() => movieLensEvents(['1\t2\tx\t4'], file), 'u.data:1', 'rating');
    expectDatasetError(() => movieLensEvents(['1\t2\t3\t-4'], file), 'u.data:1', 'unix seconds');
    expectDatasetError(() => movieLensEvents(['u1\t2\t3\t4'], file), 'u.data:1', 'user id');
    expectDatasetError(() => movieLensEvents(['1\t2\t3\t99999999999'], file), 'u.data:1', 'range');
  });
});

describe('MIND parsing (synthetic)', () => {
  it('reads M/D/YYYY h:mm:ss AM|PM as UTC, 12 AM being midnight', () => {
    expect(parseMindTime('11/9/2019 12:01:13 AM')).toBe(Date.parse('2019-11-09T00:01:13Z'));
    expect(parseMindTime('11/9/2019 12:01:13 PM')).toBe(Date.parse('2019-11-09T12:01:13Z'));
    expect(parseMindTime('1/31/2020 1:02:03 PM')).toBe(Date.parse('2020-01-31T13:02:03Z'));
    expect(parseMindTime('2/30/2019 1:00:00 PM')).toBeUndefined();
    expect(parseMindTime('2/3/2019 13:00:00 PM')).toBeUndefined();
    expect(parseMindTime('2019-02-03 10:00:00')).toBeUndefined();
  });

  const lines = [
    '2\tU2\t11/10/2019 9:00:00 AM\t\tN3-0',
    '1\tU1\t11/9/2019 8:00:00 PM\tN9 N8\tN1-0 N2-1',
    '3\tU3\t11/9/2019 8:00:00 PM\tN9\tN4-1',
  ];

  it('sorts impressions by time, stable, and keeps the structure', () => {
    const imps = mindImpressions(lines);
    expect(imps.map((i) => i.impressionId)).toEqual(['1', '3', '2']);
    expect(imps[0]).toEqual({
      impressionId: '1',
      userId: 'U1',
      ts: Date.parse('2019-11-09T20:00:00Z'),
      history: ['N9', 'N8'],
      items: [
        { itemId: 'N1', clicked: false },
        { itemId: 'N2', clicked: true },
      ],
    });
    expect(imps[2]!.history).toEqual([]);
    expect(mindImpressions(lines, { limit: 1 })).toHaveLength(1);
  });

  it('emits a view per entry and a click right after a clicked view', () => {
    const out = mindEvents(mindImpressions(lines));
    expect(out.map((e) => `${e.type}:${e.eventId}`)).toEqual([
      'view:mind:1:N1:view',
      'view:mind:1:N2:view',
      'click:mind:1:N2:click',
      'view:mind:3:N4:view',
      'click:mind:3:N4:click',
      'view:mind:2:N3:view',
    ]);
    expect(out[2]).toEqual({
      type: 'click',
      userId: 'U1',
      itemId: 'N2',
      ts: Date.parse('2019-11-09T20:00:00Z'),
      eventId: 'mind:1:N2:click',
      source: 'mind',
    });
  });

  it('names file and line of a bad impression row', () => {
    const f = { file: 'b.tsv' };
    expectDatasetError(() => mindImpressions(['', '1\tU\t1/1/2019 1:00:00 AM\t'], f), 'b.tsv:2');
    expectDatasetError(
      () => mindImpressions(['1\tU\t1/1/2019 1:00:00 AM\t\tN1-2'], f),
      'b.tsv:1',
      'NEWSID-0',
    );
    expectDatasetError(() => mindImpressions(['1\tU\tyesterday\t\tN1-1'], f), 'b.tsv:1', 'time');
    expectDatasetError(() => mindImpressions(['1\tU\t1/1/2019 1:00:00 AM\t\t'], f), 'empty');
  });
});

describe('brunch parsing (synthetic)', () => {
  it('converts KST hour file names to UTC', () => {
    expect(parseBrunchFileName('2019022200_2019022201')).toEqual({
      startMs: Date.parse('2019-02-21T15:00:00Z'),
      endMs: Date.parse('2019-02-21T16:00:00Z'),
    });
    expect(parseBrunchFileName('2019022823_2019030100')).toEqual({
      startMs: Date.parse('2019-02-28T14:00:00Z'),
      endMs: Date.parse('2019-02-28T15:00:00Z'),
    });
    expect(parseBrunchFileName('2019022300_2019022301')?.startMs).toBe(
      Date.parse('2019-02-22T15:00:00Z'),
    );
    expect(parseBrunchFileName('2019023000_2019023001')).toBeUndefined();
    expect(parseBrunchFileName('2019022201_2019022200')).toBeUndefined();
    expect(parseBrunchFileName('read.txt')).toBeUndefined();
  });

  it('spreads a file reads evenly over its hour in line order', () => {
    const name = '2019022200_2019022201';
    const start = Date.parse('2019-02-21T15:00:00Z');
    const out = [...brunchFileEvents(name, '#u1 @a_1 @b_2 \n#u2 \n\n#u3 @c_3 @a_1\n')];
    expect(out.map((e) => [e.userId, e.itemId, e.ts - start, e.eventId])).toEqual([
      ['#u1', '@a_1', 0, `brunch:${name}:1:1`],
      ['#u1', '@b_2', 900_000, `brunch:${name}:1:2`],
      ['#u3', '@c_3', 1_800_000, `brunch:${name}:4:1`],
      ['#u3', '@a_1', 2_700_000, `brunch:${name}:4:2`],
    ]);
    expect(out.every((e) => e.type === 'click' && e.source === 'brunch')).toBe(true);
  });

  it('rejects a bad file name and over-long ids', () => {
    expectDatasetError(() => [...brunchFileEvents('notes', '#u @a')], 'notes', 'YYYYMMDDHH');
    const long = `#u @${'x'.repeat(300)}`;
    expectDatasetError(() => [...brunchFileEvents('2019022200_2019022201', long)], ':1', 'article');
  });

  describe('readBrunch on a directory', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'freshet-brunch-'));
      await mkdir(join(dir, 'read'));
      await writeFile(join(dir, 'read', '2019022201_2019022202'), '#u3 @c_1\n');
      await writeFile(join(dir, 'read', '2019022200_2019022201'), '#u1 @a_1 @a_2\n#u2 @b_1\n');
      await writeFile(join(dir, 'read', '.DS_Store'), 'ignored');
      await mkdir(join(dir, 'overlap'));
      await writeFile(join(dir, 'overlap', '2019022200_2019022202'), '#u1 @a_1\n');
      await writeFile(join(dir, 'overlap', '2019022201_2019022202'), '#u1 @a_1\n');
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('streams files in name order, hidden files ignored, limit on reads', async () => {
      const out = await collect(readBrunch(join(dir, 'read')));
      expect(out.map((e) => e.itemId)).toEqual(['@a_1', '@a_2', '@b_1', '@c_1']);
      expect(out[3]!.ts).toBe(Date.parse('2019-02-21T16:00:00Z'));
      expectTimeOrder(out);
      const two = await collect(readBrunch(join(dir, 'read'), { limit: 2 }));
      expect(two.map((e) => e.eventId)).toEqual([
        'brunch:2019022200_2019022201:1:1',
        'brunch:2019022200_2019022201:1:2',
      ]);
      const one = await collect(readBrunch(join(dir, 'read', '2019022201_2019022202')));
      expect(one.map((e) => e.itemId)).toEqual(['@c_1']);
      expect(await collect(events('brunch', join(dir, 'read'), { limit: 3 }))).toEqual(
        out.slice(0, 3),
      );
    });

    it('fails on overlapping hours and on a missing path', async () => {
      await expect(collect(readBrunch(join(dir, 'overlap')))).rejects.toMatchObject({
        code: 'dataset_invalid',
        message: expect.stringContaining('overlaps'),
      });
      await expect(collect(readBrunch(join(dir, 'nope')))).rejects.toMatchObject({
        code: 'dataset_invalid',
        message: expect.stringContaining('ENOENT'),
      });
    });
  });
});

describe('MovieLens 100K', () => {
  it('earliest 20,000 ratings: views, clicks, first and last events', async (ctx) => {
    const path = dataset(ctx, 'movielens-100k/u.data');
    // Independent reference: stable sort of the raw lines by timestamp.
    const rows = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l, i) => {
        const [user, item, rating, seconds] = l.split('\t').map(Number) as number[];
        return { user, item, rating: rating!, ts: seconds! * 1000, i };
      })
      .sort((a, b) => a.ts - b.ts || a.i - b.i);
    const earliest = rows.slice(0, 20_000);
    const highRated = earliest.filter((r) => r.rating >= 4).length;
    expect(rows).toHaveLength(100_000);
    expect(highRated).toBe(11_195);

    const out = await readMovieLens(path, { limit: 20_000 });
    const views = out.filter((e) => e.type === 'view');
    expect(views).toHaveLength(20_000);
    expect(out.filter((e) => e.type === 'click')).toHaveLength(highRated);
    expect(out).toHaveLength(20_000 + highRated);
    expect(views.map((e) => `${e.userId}:${e.itemId}:${e.ts}`)).toEqual(
      earliest.map((r) => `${r.user}:${r.item}:${r.ts}`),
    );
    expect(out[0]).toEqual({
      type: 'view',
      userId: '259',
      itemId: '255',
      ts: 874_724_710_000,
      eventId: 'ml:259:255:view',
      source: 'movielens',
    });
    expect(out[1]?.eventId).toBe('ml:259:255:click');
    // The 20,000th rating is the second of five tied at 878963305 (file lines 1284, 6303, ...).
    expect(out.at(-2)?.eventId).toBe('ml:181:1327:view');
    expect(out.at(-1)).toMatchObject({ eventId: 'ml:181:824:view', ts: 878_963_305_000 });
    expectTimeOrder(out);
    out.forEach((e, i) => {
      if (e.type === 'click') expect(out[i - 1]?.eventId).toBe(`ml:${e.userId}:${e.itemId}:view`);
    });
  });

  it('whole file through events()', async (ctx) => {
    const path = dataset(ctx, 'movielens-100k/u.data');
    const out = await collect(events('movielens', path));
    expect(out.filter((e) => e.type === 'view')).toHaveLength(100_000);
    expect(out.filter((e) => e.type === 'click')).toHaveLength(55_375);
    expect(out.at(-1)?.ts).toBe(893_286_638_000);
    expectTimeOrder(out);
  });
});

describe('MIND small subset', () => {
  it('views, clicks and impressions match the file', async (ctx) => {
    const path = dataset(ctx, 'mind-small-subset/behaviors.tsv');
    // Independent reference: count impression tokens by label.
    let shown = 0;
    let clicked = 0;
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
    for (const line of lines) {
      for (const token of line.split('\t')[4]!.split(' ')) {
        shown++;
        if (token.endsWith('-1')) clicked++;
      }
    }
    expect([lines.length, shown, clicked]).toEqual([5_000, 189_359, 7_542]);

    const out = await readMind(path);
    expect(out.filter((e) => e.type === 'view')).toHaveLength(shown);
    expect(out.filter((e) => e.type === 'click')).toHaveLength(clicked);
    expect(new Set(out.map((e) => e.userId)).size).toBe(4_637);
    expect(out[0]).toEqual({
      type: 'view',
      userId: 'U49985',
      itemId: 'N20602',
      ts: Date.parse('2019-11-09T00:01:13Z'),
      eventId: 'mind:13807:N20602:view',
      source: 'mind',
    });
    expect(out.slice(2, 4).map((e) => e.eventId)).toEqual([
      'mind:13807:N57768:view',
      'mind:13807:N57768:click',
    ]);
    expect(out.at(-1)).toMatchObject({
      eventId: 'mind:46207:N29490:view',
      userId: 'U33390',
      ts: Date.parse('2019-11-14T23:50:13Z'),
    });
    expectTimeOrder(out);
  });

  it('impressions in time order, limit counting impressions', async (ctx) => {
    const path = dataset(ctx, 'mind-small-subset/behaviors.tsv');
    const imps = await readMindImpressions(path);
    expect(imps).toHaveLength(5_000);
    expect(imps[0]).toMatchObject({ impressionId: '13807', userId: 'U49985' });
    expect(imps[0]!.items).toHaveLength(29);
    expect(imps[0]!.items[2]).toEqual({ itemId: 'N57768', clicked: true });
    expect(imps.filter((i) => i.history.length === 0)).toHaveLength(107);
    expect(imps[1]!.impressionId).toBe('27660');

    const two = await readMind(path, { limit: 2 });
    const expected = imps
      .slice(0, 2)
      .reduce((n, i) => n + i.items.length + i.items.filter((it) => it.clicked).length, 0);
    expect(two).toHaveLength(expected);
    expect(two.at(-1)?.eventId).toBe('mind:27660:N64536:view');
  });
});

describe('Kakao brunch read log', () => {
  it('first hour file: KST to UTC, even spread, then the next file', async (ctx) => {
    const dir = dataset(ctx, 'kakao-brunch-read-1week/read');
    const name = '2019022200_2019022201';
    const text = readFileSync(join(dir, name), 'utf8');
    const reads = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .reduce((n, l) => n + l.trim().split(/\s+/).length - 1, 0);
    expect(reads).toBe(10_238);

    const out = await collect(readBrunch(dir, { limit: reads + 1 }));
    expect(out).toHaveLength(reads + 1);
    const start = Date.parse('2019-02-21T15:00:00Z'); // 2019-02-22 00:00 KST
    expect(out[0]).toEqual({
      type: 'click',
      userId: '#a0923400c3255b40221fcf35a0735bd4',
      itemId: '@brunch_151',
      ts: start,
      eventId: `brunch:${name}:1:1`,
      source: 'brunch',
    });
    expect(out[reads - 1]).toMatchObject({
      userId: '#0c4ff1501a25b11c514088c6d07459ef',
      itemId: '@seochogirl_13',
      ts: start + Math.floor(((reads - 1) * HOUR) / reads),
      eventId: `brunch:${name}:1527:6`,
    });
    expect(out[reads]).toMatchObject({
      ts: start + HOUR,
      eventId: 'brunch:2019022201_2019022202:1:1',
    });
    expectTimeOrder(out);
    expect(new Set(out.map((e) => e.eventId)).size).toBe(out.length);
  });
});
