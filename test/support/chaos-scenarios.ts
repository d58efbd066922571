import { brokerScenario } from './chaos-broker.ts';
import { badInputScenario } from './chaos-input.ts';
import { killScenario } from './chaos-kill.ts';
import { outageScenario } from './chaos-outages.ts';
import { rebalanceScenario } from './chaos-rebalance.ts';
import { shutdownScenario } from './chaos-shutdown.ts';
import { timeScenario } from './chaos-time.ts';
import type { ChaosServices, ScenarioResult } from './chaos.ts';

export interface ScenarioOptions {
  /** `small` is what CI runs; `full` is what `npm run chaos` runs. */
  size: 'small' | 'full';
  seed: number;
}

type Scenario = (services: ChaosServices, options: ScenarioOptions) => Promise<ScenarioResult>;

const ALL = {
  kill: (services, { size, seed }) =>
    killScenario(
      services,
      size === 'full' ? { events: 100_000, kills: 10, seed } : { events: 20_000, kills: 3, seed },
    ),
  rebalance: (services, { size, seed }) =>
    rebalanceScenario(
      services,
      size === 'full' ? { events: 100_000, seed } : { events: 40_000, seed },
    ),
  'store-outages': (services, { size, seed }) =>
    outageScenario(
      services,
      size === 'full'
        ? { events: 60_000, redisRestarts: 2, clickhouseDownMs: 30_000, maxPending: 50, seed }
        : { events: 15_000, redisRestarts: 1, clickhouseDownMs: 12_000, maxPending: 20, seed },
    ),
  'broker-restart': (services, { size, seed }) =>
    brokerScenario(
      services,
      size === 'full'
        ? { events: 40_000, restarts: 3, seed }
        : { events: 10_000, restarts: 1, seed },
    ),
  'bad-input': (services, { size, seed }) =>
    badInputScenario(
      services,
      size === 'full'
        ? { good: 20_000, bad: 10_000, megabytes: 20, seed }
        : { good: 5_000, bad: 2_000, megabytes: 3, seed },
    ),
  time: (services) => timeScenario(services),
  shutdown: (services, { size, seed }) =>
    shutdownScenario(
      services,
      size === 'full' ? { events: 100_000, stops: 6, seed } : { events: 30_000, stops: 2, seed },
    ),
} satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof ALL;

/** Every scenario, with its CI and full sizes, in the order `npm run chaos` runs them. */
export const SCENARIOS: Record<ScenarioName, Scenario> = ALL;
