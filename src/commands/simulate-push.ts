import type { Command } from '../cli.ts';
import { parseDuration } from '../config/duration.ts';
import { FreshetError } from '../errors.ts';
import { DEFAULT_PUSH_PARAMS, pushParams, type PushParams } from '../push/params.ts';
import { readSimData } from '../push/sim/data.ts';
import { simulatePush, type SimulationReport } from '../push/sim/simulate.ts';
import { buildWorld } from '../push/sim/world.ts';
import { datasetsDir } from '../sources/datasets.ts';

const USAGE = [
  'usage: freshet simulate-push [--json] [--datasets DIR] [--salt S] [--tick 10m]',
  '         [--pilot N] [--target-lift X] [--confidence X] [--expand-factor X] [--budget N]',
  '         [--observation 30m] [--delay 30m] [--expiry 4h] [--cap-window 7d]',
  '         [--min-organic-ctr X] [--min-organic-views N] [--inactive-after 3d]',
  '',
  'Replays the MIND subset and the Open Bandit sample (FRESHET_DATASETS_DIR) and runs the push',
  'loop on half of the MIND users, answering each push from a response model fitted on the other',
  'half (docs/push.md). Compares it with baselines of the same sends. Unset options keep the',
  "loop's defaults, except --min-organic-ctr 0.1 and --min-organic-views 5 (see docs/push.md).",
].join('\n');

/** Numeric options and the push parameter each sets. */
const NUMBERS: Record<string, keyof PushParams> = {
  pilot: 'pilotSize',
  'target-lift': 'targetLift',
  confidence: 'confidence',
  'expand-factor': 'expandFactor',
  budget: 'budget',
  'min-organic-ctr': 'minOrganicCtr',
  'min-organic-views': 'minOrganicViews',
};
const DURATIONS: Record<string, keyof PushParams> = {
  observation: 'observationMs',
  delay: 'delayMs',
  expiry: 'expiryMs',
  'cap-window': 'capWindowMs',
  'inactive-after': 'inactiveAfterMs',
};
/** The simulation holds contents back until they show an organic CTR; the engine's default is no threshold. */
const SIMULATION_DEFAULTS: Partial<PushParams> = { minOrganicCtr: 0.1, minOrganicViews: 5 };

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

function duration(raw: string, option: string): number {
  try {
    return parseDuration(raw, option);
  } catch {
    throw new FreshetError(
      'config_invalid',
      `--${option} must be a duration such as 30m, 4h or 7d, got "${raw}"`,
      { field: option },
    );
  }
}

export function simulationParams(values: Values): PushParams {
  const partial: Partial<PushParams> = { ...SIMULATION_DEFAULTS };
  for (const [option, key] of Object.entries(NUMBERS)) {
    if (typeof values[option] === 'string') partial[key] = Number(values[option]);
  }
  for (const [option, key] of Object.entries(DURATIONS)) {
    if (typeof values[option] === 'string') {
      partial[key] = duration(values[option] as string, option);
    }
  }
  // Deleting campaigns plays no part in a simulation: the retention outlasts any expiry given.
  const expiryMs = partial.expiryMs ?? DEFAULT_PUSH_PARAMS.expiryMs;
  partial.retentionMs = Math.max(DEFAULT_PUSH_PARAMS.retentionMs, expiryMs + 86_400_000);
  return pushParams(partial);
}

const fixed = (x: number, digits: number) => x.toFixed(digits);

export function formatTable(report: SimulationReport): string {
  const header = [
    'strategy',
    'role',
    'sends',
    'clicks',
    'expected',
    'lift',
    'clicks/push',
    'lift held from send',
  ];
  const lines = report.rows.map((r, i) => [
    r.name,
    r.role,
    String(r.sends),
    String(r.clicks),
    fixed(r.expectedClicks, 1),
    fixed(r.lift, 2),
    r.sends > 0 ? fixed(r.clicks / r.sends, 4) : '-',
    String(report.details[i]?.sendsToTarget ?? 'never'),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => (l[i] as string).length)),
  );
  const pad = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ');
  const { contents, expanded, stopped } = report.loop;
  const reasons = Object.entries(stopped)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    pad(header),
    ...lines.map(pad),
    '',
    `loop: ${contents} contents pushed, ${expanded} expanded; ended: ${reasons || 'none'}`,
  ].join('\n');
}

export const command: Command = {
  summary: 'Simulate the push feedback loop on real data against baselines of the same sends.',
  usage: USAGE,
  options: {
    json: { type: 'boolean' },
    datasets: { type: 'string' },
    salt: { type: 'string' },
    tick: { type: 'string' },
    ...Object.fromEntries(
      [...Object.keys(NUMBERS), ...Object.keys(DURATIONS)].map((o) => [
        o,
        { type: 'string' as const },
      ]),
    ),
  },
  async run(values) {
    const params = simulationParams(values);
    const tickMs = duration(typeof values.tick === 'string' ? values.tick : '10m', 'tick');
    if (tickMs < 60_000) {
      throw new FreshetError('config_invalid', '--tick must be at least 1m', { field: 'tick' });
    }
    const salt = typeof values.salt === 'string' ? values.salt : 'freshet-push-sim';
    const dir = typeof values.datasets === 'string' ? values.datasets : datasetsDir();

    const world = buildWorld(await readSimData(dir), { salt });
    const report = await simulatePush(world, { params, tickMs, salt });
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify({ rows: report.rows })}\n`);
    } else {
      const c = world.counts;
      process.stdout.write(
        `world: ${c.loopUsers} users in the loop half (${c.loopImpressions} impressions), response model fitted on ` +
          `${c.fitUsers} others (${c.fitImpressions} impressions) and ${world.response.summary.banditSegments} Open Bandit segments; ` +
          `${world.contents.length} candidate contents\n\n${formatTable(report)}\n`,
      );
    }
    return 0;
  },
};
