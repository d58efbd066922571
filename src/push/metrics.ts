import { Counter, type Registry } from 'prom-client';
import type { Metrics } from '../metrics.ts';
import type { Campaign } from './campaign.ts';

/** The `state` label of `freshet_campaigns` (declared in src/metrics.ts). */
export type CampaignPhase = 'scheduled' | 'pilot' | 'observing' | 'expanding' | 'stopped';

/**
 * Maps the state machine onto the exported phases: scheduled (no stage yet),
 * pilot (first stage being sent), observing (a stage awaiting its opens),
 * expanding (a later stage being sent, or due), stopped.
 */
export function phaseOf(c: Campaign): CampaignPhase {
  if (c.state === 'stopped') return 'stopped';
  if (c.state === 'observing') return 'observing';
  if (c.stages.length === 0) return 'scheduled';
  return c.state === 'sending' && c.stages.length === 1 ? 'pilot' : 'expanding';
}

/** Sets campaigns per phase and the lift pooled over each phase's campaigns (observed / expected). */
export function reportCampaigns(
  metrics: Pick<Metrics, 'campaigns' | 'campaignLift'>,
  campaigns: readonly Campaign[],
): void {
  const totals = new Map<CampaignPhase, { count: number; observed: number; expected: number }>();
  for (const phase of ['scheduled', 'pilot', 'observing', 'expanding', 'stopped'] as const) {
    totals.set(phase, { count: 0, observed: 0, expected: 0 });
  }
  for (const c of campaigns) {
    const t = totals.get(phaseOf(c)) as { count: number; observed: number; expected: number };
    t.count++;
    t.observed += c.observed;
    t.expected += c.expected;
  }
  for (const [state, t] of totals) {
    metrics.campaigns.set({ state }, t.count);
    metrics.campaignLift.set({ state }, t.expected > 0 ? t.observed / t.expected : 0);
  }
}

function counter<T extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly T[],
): Counter<T> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<T>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** The push loop's own counters, created once per registry (injected). */
export function createPushMetrics(registry: Registry) {
  const requests = counter(
    registry,
    'freshet_push_requests_total',
    'Push requests emitted, each after its cap was claimed.',
    [],
  );
  const decisions = counter(
    registry,
    'freshet_push_decisions_total',
    'Campaign decisions, by action.',
    ['action'] as const,
  );
  const ticks = counter(
    registry,
    'freshet_push_ticks_total',
    'Passes of the push loop, by outcome.',
    ['result'] as const,
  );
  for (const action of ['expand', 'resend', 'stop', 'hold']) decisions.inc({ action }, 0);
  for (const result of ['ok', 'error']) ticks.inc({ result }, 0);
  return { requests, decisions, ticks };
}

export type PushMetrics = ReturnType<typeof createPushMetrics>;
