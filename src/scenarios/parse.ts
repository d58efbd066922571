import { createHash } from 'node:crypto';
import { YamlFile } from '../config/yaml-file.ts';
import { Fields, isRecord, type Path } from './fields.ts';
import {
  NAME_PATTERN,
  SOURCE_KINDS,
  type CandidateSource,
  type CategoryRule,
  type Demotion,
  type Filters,
  type Plan,
  type Scenario,
  type Variant,
} from './types.ts';

/** The largest k any scenario may allow; the API's own bound. */
export const MAX_K = 100;
const SECTIONS = ['k', 'candidates', 'filters', 'demotions', 'diversity'] as const;
const TOP_LEVEL = ['kind', 'name', 'description', 'salt', ...SECTIONS, 'variants'];
const SOURCE_FIELDS: Record<string, readonly string[]> = {
  model: [],
  trending: ['by', 'minViews', 'pool'],
  similar: ['of', 'recent'],
  fresh: ['maxAge'],
};
const SHARE_TOLERANCE = 1e-6;

const DEFAULT_PLAN: Omit<Plan, 'candidates'> = {
  k: { default: 10, max: MAX_K },
  filters: {
    clicked: false,
    shown: undefined,
    categories: undefined,
    expired: false,
    blocked: new Set(),
  },
  demotions: [],
  maxPerCategory: undefined,
};

function parseK(f: Fields, raw: unknown, path: Path): Plan['k'] {
  const k = f.mapping(raw, path, ['default', 'max']);
  const max = k.max === undefined ? MAX_K : f.integer(k.max, [...path, 'max'], 1, MAX_K);
  const fallback = Math.min(10, max);
  const value =
    k.default === undefined ? fallback : f.integer(k.default, [...path, 'default'], 1, max);
  return { default: value, max };
}

function parseSource(f: Fields, raw: unknown, path: Path): CandidateSource {
  const kind = f.oneOf(isRecord(raw) ? raw.source : undefined, [...path, 'source'], SOURCE_KINDS);
  const own = SOURCE_FIELDS[kind] as readonly string[];
  const s = f.mapping(raw, path, ['source', 'limit', 'quota', 'weight', ...own]);
  const at = (key: string): Path => [...path, key];
  const common = {
    limit: s.limit === undefined ? 100 : f.integer(s.limit, at('limit'), 1, 1000),
    quota: s.quota === undefined ? undefined : f.integer(s.quota, at('quota'), 0, MAX_K),
    weight: s.weight === undefined ? 1 : f.number(s.weight, at('weight'), 0, 100),
  };
  switch (kind) {
    case 'model':
      return { kind, ...common };
    case 'trending':
      return {
        kind,
        ...common,
        by: s.by === undefined ? 'clicks' : f.oneOf(s.by, at('by'), ['clicks', 'ctr'] as const),
        minViews: s.minViews === undefined ? 20 : f.number(s.minViews, at('minViews'), 0, 1e9),
        pool: s.pool === undefined ? 200 : f.integer(s.pool, at('pool'), 1, 10_000),
      };
    case 'similar':
      return {
        kind,
        ...common,
        of: s.of === undefined ? 'clicks' : f.oneOf(s.of, at('of'), ['clicks', 'item'] as const),
        recent: s.recent === undefined ? 5 : f.integer(s.recent, at('recent'), 1, 20),
      };
    case 'fresh':
      if (s.maxAge === undefined) f.fail(at('maxAge'), 'is required for a fresh source, e.g. 2d');
      return { kind, ...common, maxAgeMs: f.durationMs(s.maxAge, at('maxAge')) };
  }
}

function parseCandidates(f: Fields, raw: unknown, path: Path): CandidateSource[] {
  return f.list(raw, path, 1, 16).map((entry, i) => parseSource(f, entry, [...path, i]));
}

function parseCategories(f: Fields, raw: unknown, path: Path): CategoryRule {
  const c = f.mapping(raw, path, ['include', 'exclude']);
  if ((c.include === undefined) === (c.exclude === undefined)) {
    f.fail(path, 'needs exactly one of include or exclude');
  }
  return c.include !== undefined
    ? { include: f.idSet(c.include, [...path, 'include'], 1000) }
    : { exclude: f.idSet(c.exclude, [...path, 'exclude'], 1000) };
}

function parseFilters(f: Fields, raw: unknown, path: Path): Filters {
  const known = ['clicked', 'shown', 'categories', 'expired', 'blocked'];
  const m = f.mapping(raw, path, known);
  const at = (key: string): Path => [...path, key];
  return {
    clicked: m.clicked === undefined ? false : f.boolean(m.clicked, at('clicked')),
    shown: m.shown === undefined ? undefined : f.integer(m.shown, at('shown'), 1, 1_000_000),
    categories:
      m.categories === undefined ? undefined : parseCategories(f, m.categories, at('categories')),
    expired: m.expired === undefined ? false : f.boolean(m.expired, at('expired')),
    blocked: m.blocked === undefined ? new Set() : f.idSet(m.blocked, at('blocked'), 100_000),
  };
}

function parseDemotion(f: Fields, raw: unknown, path: Path): Demotion {
  const kinds = ['seen', 'clicked', 'category', 'older'] as const;
  const when = f.oneOf(isRecord(raw) ? raw.when : undefined, [...path, 'when'], kinds);
  const extra = { seen: ['times'], clicked: [], category: ['categories'], older: ['age'] }[when];
  const d = f.mapping(raw, path, ['when', 'factor', ...extra]);
  const at = (key: string): Path => [...path, key];
  if (d.factor === undefined) f.fail(at('factor'), 'is required: a number above 0 and at most 1');
  const factor = f.number(d.factor, at('factor'), 0, 1);
  if (factor === 0) f.fail(at('factor'), 'must be above 0; use a filter to remove items');
  switch (when) {
    case 'seen':
      return {
        when,
        factor,
        times: d.times === undefined ? 1 : f.integer(d.times, at('times'), 1, 1_000_000),
      };
    case 'clicked':
      return { when, factor };
    case 'category':
      if (d.categories === undefined) f.fail(at('categories'), 'is required: a list of categories');
      return { when, factor, categories: f.idSet(d.categories, at('categories'), 1000) };
    case 'older':
      if (d.age === undefined) f.fail(at('age'), 'is required, e.g. 1d');
      return { when, factor, ageMs: f.durationMs(d.age, at('age')) };
  }
}

function parseDiversity(f: Fields, raw: unknown, path: Path): number | undefined {
  const d = f.mapping(raw, path, ['maxPerCategory']);
  if (d.maxPerCategory === undefined) return undefined;
  return f.integer(d.maxPerCategory, [...path, 'maxPerCategory'], 1, MAX_K);
}

/** The sections present in `m`, laid over `base`: a section given replaces the base's whole. */
function parsePlan(
  f: Fields,
  m: Record<string, unknown>,
  path: Path,
  base: Plan | undefined,
): Plan {
  const at = (key: string): Path => [...path, key];
  const candidates =
    m.candidates === undefined
      ? base?.candidates
      : parseCandidates(f, m.candidates, at('candidates'));
  if (candidates === undefined)
    f.fail(at('candidates'), 'is required: a list of candidate sources');
  const from = base ?? { ...DEFAULT_PLAN, candidates };
  return {
    k: m.k === undefined ? from.k : parseK(f, m.k, at('k')),
    candidates,
    filters: m.filters === undefined ? from.filters : parseFilters(f, m.filters, at('filters')),
    demotions:
      m.demotions === undefined
        ? from.demotions
        : f
            .list(m.demotions, at('demotions'), 0, 32)
            .map((d, i) => parseDemotion(f, d, [...at('demotions'), i])),
    maxPerCategory:
      m.diversity === undefined
        ? from.maxPerCategory
        : parseDiversity(f, m.diversity, at('diversity')),
  };
}

function parseVariants(f: Fields, raw: unknown, base: Plan): Variant[] {
  if (raw === undefined) return [{ name: 'default', share: 1, plan: base }];
  const entries = f.list(raw, ['variants'], 1, 32);
  const names = new Set<string>();
  const variants = entries.map((entry, i): Variant => {
    const path = ['variants', i];
    const v = f.mapping(entry, path, ['name', 'share', ...SECTIONS]);
    const name = f.name(v.name, [...path, 'name'], NAME_PATTERN);
    if (names.has(name)) f.fail([...path, 'name'], `"${name}" is declared twice`);
    names.add(name);
    if (v.share === undefined) f.fail([...path, 'share'], 'is required: a number from 0 to 1');
    const share = f.number(v.share, [...path, 'share'], 0, 1);
    return { name, share, plan: parsePlan(f, v, path, base) };
  });
  const total = variants.reduce((sum, v) => sum + v.share, 0);
  if (Math.abs(total - 1) > SHARE_TOLERANCE)
    f.fail(['variants'], `shares must add up to 1, they add up to ${total}`);
  return variants;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (!(value instanceof Set)) for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** True when the parsed file declares `kind: scenario`; files of other kinds belong to others. */
export function kindOf(file: YamlFile): unknown {
  return isRecord(file.data) ? file.data.kind : undefined;
}

/** Validates a scenario file; the first problem is thrown, naming the file, line and field. */
export function parseScenario(file: YamlFile, text: string): Scenario {
  const f = new Fields(file);
  const root = f.mapping(file.data, [], TOP_LEVEL);
  if (root.kind !== 'scenario') f.fail(['kind'], 'must be "scenario"');
  const name = f.name(root.name, ['name'], NAME_PATTERN);
  const description =
    root.description === undefined ? '' : f.text(root.description, ['description'], 2000);
  const salt = root.salt === undefined ? name : f.text(root.salt, ['salt'], 256);
  const base = parsePlan(f, root, [], undefined);
  const scenario: Scenario = {
    name,
    description,
    file: file.path,
    version: createHash('sha256').update(text).digest('hex').slice(0, 12),
    salt,
    variants: parseVariants(f, root.variants, base),
  };
  return deepFreeze(scenario);
}

/** Parses a scenario from its text; `path` names it in errors. */
export function scenarioFromText(path: string, text: string): Scenario {
  return parseScenario(new YamlFile(path, text), text);
}
