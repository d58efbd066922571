import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FreshetError } from '../../src/errors.ts';
import { scenarioFromText } from '../../src/scenarios/parse.ts';

const HOME = 'pipelines/home.yaml';
const SIMILAR = 'pipelines/similar.yaml';

const MINIMAL = `kind: scenario
name: tiny
candidates:
  - source: model
    limit: 50
  - source: fresh
    maxAge: 1d
    quota: 2
`;

/** The error a text raises, as { message, field, line }. */
function rejection(text: string): { message: string; field: string | undefined; line: unknown } {
  try {
    scenarioFromText('pipelines/bad.yaml', text);
  } catch (err) {
    expect(err).toBeInstanceOf(FreshetError);
    const e = err as FreshetError;
    expect(e.code).toBe('pipeline_file_invalid');
    return { message: e.message, field: e.field, line: e.context?.line };
  }
  throw new Error('the text was accepted');
}

describe('scenario files', () => {
  it('reads the shipped home feed with its sources, rules and two variants', () => {
    const home = scenarioFromText(HOME, readFileSync(HOME, 'utf8'));
    expect(home.name).toBe('home');
    expect(home.salt).toBe('home-2026-12');
    expect(home.version).toMatch(/^[0-9a-f]{12}$/);
    expect(home.variants.map((v) => [v.name, v.share])).toEqual([
      ['control', 0.5],
      ['fresh-first', 0.5],
    ]);
    const control = home.variants[0]!.plan;
    expect(control.k).toEqual({ default: 10, max: 30 });
    expect(control.candidates.map((c) => [c.kind, c.limit, c.quota, c.weight])).toEqual([
      ['model', 200, undefined, 1],
      ['similar', 50, 3, 1],
      ['trending', 50, 3, 1],
      ['fresh', 30, 2, 1.5],
    ]);
    expect(control.candidates[3]).toMatchObject({ kind: 'fresh', maxAgeMs: 2 * 86_400_000 });
    expect(control.filters).toMatchObject({ clicked: true, shown: 5, expired: true });
    expect(control.filters.categories).toEqual({ exclude: new Set(['adult']) });
    expect(control.demotions).toEqual([{ when: 'seen', times: 1, factor: 0.5 }]);
    expect(control.maxPerCategory).toBe(3);
    const fresher = home.variants[1]!.plan;
    expect(fresher.candidates[3]).toMatchObject({ kind: 'fresh', quota: 4, weight: 3 });
    expect(fresher.filters).toBe(control.filters);
  });

  it('reads the shipped similar-items page', () => {
    const similar = scenarioFromText(SIMILAR, readFileSync(SIMILAR, 'utf8'));
    expect(similar.variants).toHaveLength(1);
    const plan = similar.variants[0]!.plan;
    expect(plan.k).toEqual({ default: 6, max: 20 });
    expect(plan.candidates[0]).toMatchObject({ kind: 'similar', of: 'item', limit: 100 });
    expect(plan.candidates[1]).toMatchObject({
      kind: 'trending',
      by: 'clicks',
      quota: 1,
      weight: 0.5,
    });
    expect(plan.filters.categories).toEqual({
      include: new Set(['news', 'sport', 'culture', 'science', 'tech']),
    });
    expect(plan.demotions).toEqual([
      { when: 'seen', times: 1, factor: 0.7 },
      { when: 'older', ageMs: 7 * 86_400_000, factor: 0.8 },
    ]);
  });

  it('fills every default of a minimal file, and freezes the result', () => {
    const tiny = scenarioFromText('tiny.yaml', MINIMAL);
    expect(tiny.variants).toHaveLength(1);
    expect(tiny.variants[0]).toMatchObject({ name: 'default', share: 1 });
    const plan = tiny.variants[0]!.plan;
    expect(plan.k).toEqual({ default: 10, max: 100 });
    expect(plan.filters).toMatchObject({
      clicked: false,
      shown: undefined,
      expired: false,
      categories: undefined,
    });
    expect(plan.demotions).toEqual([]);
    expect(Object.isFrozen(plan.candidates[0])).toBe(true);
    expect(tiny.salt).toBe('tiny');
  });

  it('gives the same version to the same text, and another to any edit', () => {
    const a = scenarioFromText('a.yaml', MINIMAL).version;
    expect(scenarioFromText('b.yaml', MINIMAL).version).toBe(a);
    expect(scenarioFromText('a.yaml', `${MINIMAL}# comment\n`).version).not.toBe(a);
  });

  it('rejects a bad value naming the file, the line and the field', () => {
    const bad = rejection(MINIMAL.replace('limit: 50', 'limit: 5000'));
    expect(bad).toEqual({
      message: 'pipelines/bad.yaml:5: candidates.0.limit: must be an integer from 1 to 1000',
      field: 'candidates.0.limit',
      line: 5,
    });
  });

  it('rejects unknown fields, listing the known ones', () => {
    const bad = rejection(`${MINIMAL}filters:\n  clicked: true\n  clikced: true\n`);
    expect(bad.message).toBe(
      'pipelines/bad.yaml:11: filters.clikced: unknown field; known: clicked, shown, categories, expired, blocked',
    );
  });

  it('rejects a file that is not a scenario, or has no name', () => {
    expect(rejection('name: x\ncandidates: []\n').message).toMatch(
      /^pipelines\/bad\.yaml:1: kind: must be "scenario"$/,
    );
    expect(rejection('kind: scenario\ncandidates:\n  - source: model\n').field).toBe('name');
    expect(rejection('kind: scenario\nname: Home Feed\n').message).toContain(
      ':2: name: must match',
    );
  });

  it('rejects YAML that does not parse, with its line', () => {
    const bad = rejection('kind: scenario\nname: x\ncandidates:\n  - source: model\n   limit: [\n');
    expect(bad.message).toMatch(/^pipelines\/bad\.yaml:\d+: /);
    expect(bad.line).toBeGreaterThanOrEqual(4);
  });

  it('names the field of each broken rule', () => {
    const cases: Array<[string, string]> = [
      [MINIMAL.replace('    maxAge: 1d\n', ''), 'candidates.1.maxAge'],
      [MINIMAL.replace('maxAge: 1d', 'maxAge: soon'), 'candidates.1.maxAge'],
      [MINIMAL.replace('source: model', 'source: magic'), 'candidates.0.source'],
      [MINIMAL.replace('    limit: 50\n', '    limit: 50\n    by: ctr\n'), 'candidates.0.by'],
      [`${MINIMAL}candidates2: 1\n`, 'candidates2'],
      [`${MINIMAL}k:\n  default: 40\n  max: 20\n`, 'k.default'],
      [
        `${MINIMAL}filters:\n  categories:\n    include: [a]\n    exclude: [b]\n`,
        'filters.categories',
      ],
      [`${MINIMAL}filters:\n  shown: 0\n`, 'filters.shown'],
      [`${MINIMAL}filters:\n  blocked: [ok, '']\n`, 'filters.blocked.1'],
      [`${MINIMAL}demotions:\n  - when: seen\n    factor: 0\n`, 'demotions.0.factor'],
      [`${MINIMAL}demotions:\n  - when: seen\n`, 'demotions.0.factor'],
      [`${MINIMAL}demotions:\n  - when: older\n    factor: 0.5\n`, 'demotions.0.age'],
      [`${MINIMAL}demotions:\n  - when: sometimes\n    factor: 0.5\n`, 'demotions.0.when'],
      [`${MINIMAL}diversity:\n  maxPerCategory: 0\n`, 'diversity.maxPerCategory'],
      [
        `${MINIMAL}variants:\n  - name: a\n    share: 0.5\n  - name: b\n    share: 0.4\n`,
        'variants',
      ],
      [
        `${MINIMAL}variants:\n  - name: a\n    share: 0.5\n  - name: a\n    share: 0.5\n`,
        'variants.1.name',
      ],
      [
        `${MINIMAL}variants:\n  - name: a\n    share: 1\n    filters:\n      expired: yes\n`,
        'variants.0.filters.expired',
      ],
      [`${MINIMAL}variants:\n  - name: a\n`, 'variants.0.share'],
    ];
    for (const [text, field] of cases) expect(rejection(text).field, field).toBe(field);
  });

  it('lets a variant replace whole sections and keep the others', () => {
    const text = `${MINIMAL}filters:\n  clicked: true\nvariants:\n  - name: a\n    share: 0.25\n  - name: b\n    share: 0.75\n    filters:\n      expired: true\n    k:\n      max: 5\n`;
    const s = scenarioFromText('v.yaml', text);
    const [a, b] = s.variants.map((v) => v.plan);
    expect(a!.filters.clicked).toBe(true);
    expect(b!.filters).toMatchObject({ clicked: false, expired: true });
    expect(b!.k).toEqual({ default: 5, max: 5 });
    expect(b!.candidates).toBe(a!.candidates);
  });
});
