import type { Metrics } from '../metrics.ts';
import type { ScenarioReport } from '../scenarios/report.ts';
import type { ScenarioRegistry } from '../scenarios/registry.ts';
import type { ScenarioService } from '../scenarios/service.ts';
import type { Recommender } from '../serve/recommender.ts';
import type { ContentEvent, InteractionEvent } from '../events/schema.ts';

/** Where accepted events go: the embedded pipeline, or their Kafka topic. */
export interface Intake<T> {
  /** Resolves when the events are durable (applied, or acknowledged by Kafka). */
  submit(events: T[]): Promise<void>;
  /** True when taking `count` more events would exceed the input bound. */
  full(count: number): boolean;
  /** Most events one request may carry (the input bound itself): a larger one never fits. */
  readonly maxEventsPerRequest: number;
}

/** Where accepted interaction events go. */
export interface EventIntake extends Intake<InteractionEvent> {
  /** Events dated further than this ahead of the wall clock are refused, ms. */
  readonly maxFutureMs: number;
}

/** What the scenario routes use of the scenario runtime (src/scenarios/runtime.ts). */
export interface ScenarioApi {
  registry: Pick<ScenarioRegistry, 'get' | 'list' | 'errors'>;
  service: Pick<ScenarioService, 'recommend'>;
  report(name: string): Promise<ScenarioReport | undefined>;
}

/** What route modules are given. */
export interface ApiContext {
  recommender: Recommender;
  intake: EventIntake;
  /** Content events; without it there is no content route. */
  contents: Intake<ContentEvent> | undefined;
  metrics: Metrics;
  /** Readiness: every dependency answers. */
  ready(): Promise<boolean>;
  maxK: number;
  scenarios: ScenarioApi | undefined;
}
