/**
 * `freshet evaluate`: replays a data set in event-time order through the model and the
 * baselines, test then train, and prints their quality side by side.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from '../cli.ts';
import { loadConfig } from '../config/env.ts';
import { loadModelParams, parseModelFile } from '../config/model-file.ts';
import { YamlFile } from '../config/yaml-file.ts';
import { FreshetError } from '../errors.ts';
import { renderChart } from '../eval/chart.ts';
import { loadEvalData } from '../eval/data.ts';
import { formatTable, toJson } from '../eval/report.ts';
import { evaluate } from '../eval/suite.ts';
import { DATASET_FORMATS, defaultDatasetPath, type DatasetFormat } from '../sources/datasets.ts';

const USAGE = `usage: freshet evaluate --format movielens|mind|brunch [PATH] [options]

Prequential replay (test then train) of a data set through the online model of
pipelines/model.yaml and the baselines. PATH defaults to the shared data set of the format.

options:
  --limit N       only the earliest N ratings, impressions or reads
  --hours N       brunch: hours of reads from the first one (default 24, one day)
  --every N       click data: test every N-th eligible event, learn all (default 1)
  --seed S        seed of the model's sampling and the random baseline (default: the model's)
  --model FILE    model parameters from FILE instead of the pipelines directory
  --processes N   also replay the model as N engine processes sharing the state, users
                  spread over them, and as 1 process in the same rounds (see --window)
  --window N      events per round with --processes: each process applies its share of
                  a round to the state as it was before the round (default 2000)
  --no-history    mind: do not warm users with the history column
  --json          print the table as JSON
  --chart FILE    also write the metric over event time as an SVG chart`;

function invalid(field: string, message: string): FreshetError {
  return new FreshetError('config_invalid', message, { field });
}

function positiveInteger(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw invalid(field, `--${field} must be a positive integer`);
  return n;
}

function seedOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) {
    throw invalid('seed', '--seed must be an integer from 0 to 4294967295');
  }
  return n;
}

async function run(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  const format = values.format as string | undefined;
  if (format === undefined || !(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw invalid('format', `--format must be one of ${DATASET_FORMATS.join(', ')}`);
  }
  if (positionals.length > 1) {
    throw invalid('path', `expected at most one PATH, got ${positionals.length}`);
  }
  const path = positionals[0] ?? defaultDatasetPath(format as DatasetFormat);
  const limit = positiveInteger(values.limit, 'limit');
  const every = positiveInteger(values.every, 'every') ?? 1;
  const hours = positiveInteger(values.hours, 'hours') ?? (format === 'brunch' ? 24 : undefined);
  const modelFile = values.model as string | undefined;
  const params =
    modelFile !== undefined
      ? parseModelFile(YamlFile.read(modelFile))
      : loadModelParams(loadConfig().pipelinesDir);
  const seed = seedOf(values.seed) ?? params.seed;
  const processes = positiveInteger(values.processes, 'processes');
  const window = positiveInteger(values.window, 'window') ?? 2000;

  const data = await loadEvalData(format as DatasetFormat, path, { limit, hours });
  const report = evaluate(data, {
    params,
    seed,
    every,
    history: values['no-history'] !== true,
    partitioning: processes === undefined ? undefined : { processes, window },
    onRow: (name) => process.stderr.write(`evaluate: ${name}\n`),
  });

  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(toJson(report), null, 2)}\n`);
  } else {
    const units =
      data.kind === 'clicks'
        ? `${data.events.length.toLocaleString('en-US')} events`
        : `${data.impressions.length.toLocaleString('en-US')} impressions`;
    const sampled = every > 1 ? `, every ${every}th eligible event tested` : '';
    process.stdout.write(`${format} ${path}: ${units}, seed ${seed}${sampled}\n\n`);
    process.stdout.write(`${formatTable(report)}\n`);
  }
  const chart = values.chart as string | undefined;
  if (chart !== undefined) {
    const metric = report.metrics[0] as string;
    const lines = report.rows.map((row) => ({ name: row.name, series: row.series }));
    const title = `${format}: ${metric} over event time, prequential`;
    await writeFile(chart, renderChart(lines, { title, metric }));
  }
  return 0;
}

export const command: Command = {
  summary: 'Measure the online model against baselines on a data set, test then train.',
  usage: USAGE,
  options: {
    format: { type: 'string' },
    limit: { type: 'string' },
    hours: { type: 'string' },
    every: { type: 'string' },
    seed: { type: 'string' },
    model: { type: 'string' },
    processes: { type: 'string' },
    window: { type: 'string' },
    'no-history': { type: 'boolean' },
    json: { type: 'boolean' },
    chart: { type: 'string' },
  },
  run,
};
