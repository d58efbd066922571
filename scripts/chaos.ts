#!/usr/bin/env node
/**
 * `npm run chaos`: the full versions of the chaos scenarios against the servers
 * named by REDIS_URL, CLICKHOUSE_URL and KAFKA_BROKERS (source the env file of
 * `bash scripts/services.sh start`). Prints a summary table, or JSON with
 * --json; exits 1 when any scenario lost or duplicated an event or failed a check.
 *
 *   npm run chaos [-- --json] [--only kill,rebalance] [--small] [--seed N]
 */
import { parseArgs } from 'node:util';
import { SCENARIOS, type ScenarioName } from '../test/support/chaos-scenarios.ts';
import type { ChaosServices, ScenarioResult } from '../test/support/chaos.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    small: { type: 'boolean', default: false },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const names = Object.keys(SCENARIOS) as ScenarioName[];
if (values.help) {
  process.stdout.write(
    'usage: npm run chaos -- [--json] [--only NAME,...] [--small] [--seed N]\n' +
      `scenarios: ${names.join(', ')}\n--small runs the CI sizes\n`,
  );
  process.exit(0);
}

function required(name: 'KAFKA_BROKERS' | 'REDIS_URL' | 'CLICKHOUSE_URL'): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(
      `chaos: ${name} is not set; run \`bash scripts/services.sh start\` and source its env file\n`,
    );
    process.exit(2);
  }
  return value;
}

const services: ChaosServices = {
  brokers: required('KAFKA_BROKERS'),
  redisUrl: required('REDIS_URL'),
  clickhouseUrl: required('CLICKHOUSE_URL'),
};
const selected = values.only === undefined ? names : (values.only.split(',') as ScenarioName[]);
for (const name of selected) {
  if (!names.includes(name)) {
    process.stderr.write(`chaos: unknown scenario "${name}"; known: ${names.join(', ')}\n`);
    process.exit(2);
  }
}
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);

const results: ScenarioResult[] = [];
for (const name of selected) {
  process.stderr.write(`chaos: ${name} (seed ${seed}) ...\n`);
  const started = Date.now();
  const result = await SCENARIOS[name](services, {
    size: values.small ? 'small' : 'full',
    seed,
  }).catch((err: unknown): ScenarioResult => ({
    name,
    events: 0,
    faults: 0,
    expected: 0,
    actual: 0,
    actualRedis: 0,
    lost: 0,
    duplicated: 0,
    peakRssBytes: 0,
    durationMs: Date.now() - started,
    checks: [
      {
        name: 'scenario completes',
        ok: false,
        detail: err instanceof Error ? err.message.slice(0, 2000) : String(err),
      },
    ],
  }));
  results.push(result);
  const failed = result.checks.filter((c) => !c.ok).map((c) => c.name);
  const secs = (result.durationMs / 1000).toFixed(0);
  process.stderr.write(
    `chaos: ${name} done in ${secs} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}\n`,
  );
}

function passed(r: ScenarioResult): boolean {
  return (
    r.lost === 0 &&
    r.duplicated === 0 &&
    r.actual === r.expected &&
    r.actualRedis === r.expected &&
    r.checks.every((c) => c.ok)
  );
}

if (values.json) {
  process.stdout.write(`${JSON.stringify({ seed, scenarios: results }, null, 2)}\n`);
} else {
  process.stdout.write(table(results));
}
process.exit(results.every(passed) ? 0 : 1);

function table(rows: ScenarioResult[]): string {
  const head = [
    'scenario',
    'events',
    'faults',
    'expected',
    'actual (ClickHouse / Redis)',
    'lost',
    'duplicated',
    'peak RSS',
    'time',
    'checks',
  ];
  const body = rows.map((r) => [
    r.name,
    String(r.events),
    String(r.faults),
    String(r.expected),
    `${r.actual} / ${r.actualRedis}`,
    String(r.lost),
    String(r.duplicated),
    `${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    `${(r.durationMs / 1000).toFixed(0)} s`,
    `${r.checks.filter((c) => c.ok).length}/${r.checks.length}${passed(r) ? ' ok' : ' FAIL'}`,
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...body.map((row) => (row[i] as string).length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |\n`;
  let out = line(head) + `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`;
  for (const row of body) out += line(row);
  out += `\nseed ${seed}\n`;
  for (const r of rows) {
    for (const c of r.checks)
      out += `${c.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${c.name} — ${c.detail}\n`;
  }
  return out;
}
