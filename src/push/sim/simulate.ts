/** The push loop against baselines of the same sends, on the simulated world. */
import { pino } from 'pino';
import { DEFAULT_MODEL_PARAMS, type ModelParams } from '../../model/params.ts';
import type { PushParams } from '../params.ts';
import { CampaignWorker } from '../worker.ts';
import { OneShotAudience } from './baselines.ts';
import { runStrategy, sendsToHold, type SimOutcome } from './run.ts';
import type { SimWorld } from './world.ts';

export interface SimRow {
  name: string;
  role: 'loop' | 'baseline';
  sends: number;
  clicks: number;
  expectedClicks: number;
  /** clicks / expectedClicks: lift over the recipients' usual push CTR. */
  lift: number;
}

/** Not in the JSON rows: from which send on the cumulative lift stayed at or above the target. */
export interface SimDetail {
  name: string;
  sendsToTarget: number | undefined;
}

export interface SimulationOptions {
  params: PushParams;
  model?: ModelParams;
  tickMs: number;
  salt: string;
}

export interface SimulationReport {
  rows: SimRow[];
  details: SimDetail[];
  /** Contents the loop started a campaign for, and its campaigns' outcomes. */
  loop: { contents: number; expanded: number; stopped: Record<string, number> };
}

function row(name: string, role: SimRow['role'], o: SimOutcome): SimRow {
  return {
    name,
    role,
    sends: o.sends,
    clicks: o.clicks,
    expectedClicks: o.expectedClicks,
    lift: o.expectedClicks > 0 ? o.clicks / o.expectedClicks : 0,
  };
}

export async function simulatePush(
  world: SimWorld,
  options: SimulationOptions,
): Promise<SimulationReport> {
  const run = {
    params: options.params,
    model: options.model ?? DEFAULT_MODEL_PARAMS,
    tickMs: options.tickMs,
    salt: options.salt,
  };
  let summary: SimulationReport['loop'] = { contents: 0, expanded: 0, stopped: {} };

  const loop = await runStrategy(world, run, (ctx) => {
    const clock = { now: world.start };
    const worker = new CampaignWorker({
      state: ctx.state,
      push: ctx.push,
      model: ctx.model,
      sink: ctx.sink,
      params: ctx.params,
      logger: pino({ level: 'silent' }),
      owner: 'simulation',
      now: () => clock.now,
    });
    return {
      async tick(now: number) {
        clock.now = now;
        await worker.tick();
        if (now + options.tickMs > world.end) {
          const campaigns = (await ctx.push.list(100_000)).filter((c) => c.sends > 0);
          const stopped: Record<string, number> = {};
          for (const c of campaigns) {
            stopped[c.stopReason ?? c.state] = (stopped[c.stopReason ?? c.state] ?? 0) + 1;
          }
          const expanded = campaigns.filter((c) =>
            c.decisions.some((d) => d.action === 'expand'),
          ).length;
          summary = { contents: campaigns.length, expanded, stopped };
        }
      },
    };
  });

  const perItem = (itemId: string) => loop.perItem.get(itemId) ?? 0;
  const evenShare = summary.contents > 0 ? Math.ceil(loop.sends / summary.contents) : 0;
  const random = await runStrategy(
    world,
    run,
    (ctx) => new OneShotAudience(ctx, perItem, 'random'),
  );
  const popular = await runStrategy(
    world,
    run,
    (ctx) => new OneShotAudience(ctx, perItem, 'most-active'),
  );
  const all = await runStrategy(
    world,
    run,
    (ctx) => new OneShotAudience(ctx, () => 'all', 'random'),
  );
  const even = await runStrategy(
    world,
    run,
    (ctx) => new OneShotAudience(ctx, () => evenShare, 'random'),
  );
  const runs: Array<[string, SimRow['role'], SimOutcome]> = [
    ['loop (staged, model audience)', 'loop', loop],
    ['random audience, same sends per content', 'baseline', random],
    ['popularity only (heaviest readers first)', 'baseline', popular],
    ['all eligible users at once', 'baseline', all],
    ['random, loop total split evenly', 'baseline', even],
  ];
  return {
    rows: runs.map(([name, role, o]) => row(name, role, o)),
    details: runs.map(([name, , o]) => ({
      name,
      sendsToTarget: sendsToHold(o.trace, options.params.targetLift),
    })),
    loop: summary,
  };
}
