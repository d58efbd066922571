import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { INTERACTION_TYPES } from '../events/schema.ts';
import { DEFAULT_MODEL_PARAMS, type ModelParams, type UpdateRule } from '../model/params.ts';
import { parseDuration } from './duration.ts';
import { YamlFile } from './yaml-file.ts';
import { FreshetError } from '../errors.ts';

export const MODEL_FILE = 'model.yaml';

type Path = Array<string | number>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a number at `path` in [min, max]; absent means the default. */
function numberAt(file: YamlFile, root: Record<string, unknown>, path: Path, fallback: number, min: number, max: number, integer = false): number {
  let value: unknown = root;
  for (const key of path) value = isRecord(value) ? value[key] : undefined;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw file.error(['model', ...path], `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return value;
}

function durationAt(file: YamlFile, root: Record<string, unknown>, path: Path, fallback: number): number {
  let value: unknown = root;
  for (const key of path) value = isRecord(value) ? value[key] : undefined;
  if (value === undefined || value === null) return fallback;
  try {
    return parseDuration(value, path.join('.'));
  } catch (err) {
    throw file.error(['model', ...path], (err as Error).message);
  }
}

const KNOWN_KEYS = new Set([
  'update', 'dimensions', 'learningRate', 'biasLearningRate', 'regularization', 'biasRegularization',
  'initScale', 'seed', 'weights', 'historyWeight', 'negatives', 'halfLife',
]);

const UPDATE_RULES: readonly UpdateRule[] = ['bpr', 'isgd'];

function updateAt(file: YamlFile, root: Record<string, unknown>, fallback: UpdateRule): UpdateRule {
  const value = root.update;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !(UPDATE_RULES as readonly string[]).includes(value)) {
    throw file.error(['model', 'update'], `must be one of ${UPDATE_RULES.join(', ')}`);
  }
  return value as UpdateRule;
}

/** Model hyperparameters from the `model:` section of a pipeline file; every field optional. */
export function parseModelFile(file: YamlFile): ModelParams {
  const root = file.data;
  if (!isRecord(root)) throw file.error([], 'the file must be a mapping with a model section');
  const model = root.model ?? {};
  if (!isRecord(model)) throw file.error(['model'], 'must be a mapping');
  for (const key of Object.keys(model)) {
    if (!KNOWN_KEYS.has(key)) throw file.error(['model', key], `unknown field; known: ${[...KNOWN_KEYS].join(', ')}`);
  }
  const d = DEFAULT_MODEL_PARAMS;
  const weights = { ...d.weights };
  for (const type of INTERACTION_TYPES) weights[type] = numberAt(file, model, ['weights', type], d.weights[type], 0, 100);

  return {
    update: updateAt(file, model, d.update),
    dimensions: numberAt(file, model, ['dimensions'], d.dimensions, 1, 512, true),
    learningRate: numberAt(file, model, ['learningRate'], d.learningRate, 0, 10),
    biasLearningRate: numberAt(file, model, ['biasLearningRate'], d.biasLearningRate, 0, 10),
    regularization: numberAt(file, model, ['regularization'], d.regularization, 0, 10),
    biasRegularization: numberAt(file, model, ['biasRegularization'], d.biasRegularization, 0, 10),
    initScale: numberAt(file, model, ['initScale'], d.initScale, 0, 10),
    seed: numberAt(file, model, ['seed'], d.seed, 0, 2 ** 32 - 1, true),
    weights,
    historyWeight: numberAt(file, model, ['historyWeight'], d.historyWeight, 0, 100),
    negatives: {
      perPositive: numberAt(file, model, ['negatives', 'perPositive'], d.negatives.perPositive, 0, 100, true),
      poolSize: numberAt(file, model, ['negatives', 'poolSize'], d.negatives.poolSize, 0, 10_000_000, true),
      uniformShare: numberAt(file, model, ['negatives', 'uniformShare'], d.negatives.uniformShare, 0, 1),
      realWeight: numberAt(file, model, ['negatives', 'realWeight'], d.negatives.realWeight, 0, 1000),
      perBatch: numberAt(file, model, ['negatives', 'perBatch'], d.negatives.perBatch, 0, 10_000_000, true),
    },
    halfLifeMs: {
      user: durationAt(file, model, ['halfLife', 'user'], d.halfLifeMs.user),
      item: durationAt(file, model, ['halfLife', 'item'], d.halfLifeMs.item),
      trending: durationAt(file, model, ['halfLife', 'trending'], d.halfLifeMs.trending),
    },
  };
}

/** Loads `<dir>/model.yaml`; without the file, the documented defaults. */
export function loadModelParams(dir: string): ModelParams {
  const path = join(dir, MODEL_FILE);
  if (!existsSync(path)) {
    if (!existsSync(dir)) {
      throw new FreshetError('config_invalid', `pipelines directory "${dir}" does not exist (FRESHET_PIPELINES_DIR)`, {
        field: 'FRESHET_PIPELINES_DIR',
      });
    }
    return DEFAULT_MODEL_PARAMS;
  }
  return parseModelFile(YamlFile.read(path));
}
