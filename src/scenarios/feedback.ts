import type { InteractionEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { ClickSeen, ExposureStore } from './exposure.ts';
import type { ScenarioRegistry } from './registry.ts';
import type { VariantClick, VariantTracker } from './tracker.ts';

export interface FeedbackOptions {
  exposure: ExposureStore;
  tracker: VariantTracker;
  registry: ScenarioRegistry;
  logger: Logger;
}

/**
 * Takes the events the pipeline has committed (its after-commit hook) and
 * keeps what the scenarios need beyond the model: each user's recent clicks
 * (the `similar` source) and clicks tagged with a variant
 * (`variant: "<scenario>/<variant>"`, for reports). A failure here is logged
 * and never fails the batch, which is already durable.
 */
export class Feedback {
  private readonly options: FeedbackOptions;
  private tail: Promise<void> = Promise.resolve();

  constructor(options: FeedbackOptions) {
    this.options = options;
  }

  /** Records a committed batch's clicks; resolves once they are recorded (or the failure logged). */
  committed(events: readonly InteractionEvent[]): Promise<void> {
    this.tail = this.tail
      .then(() => this.record(events))
      .catch((err: unknown) => this.options.logger.warn({ err }, 'recent clicks not recorded'));
    return this.tail;
  }

  /** Resolves once every batch handed over so far is recorded. */
  settled(): Promise<void> {
    return this.tail;
  }

  private async record(events: readonly InteractionEvent[]): Promise<void> {
    const clicks: ClickSeen[] = [];
    const tagged: VariantClick[] = [];
    for (const { type, userId, itemId, ts, variant } of events) {
      if (type !== 'click') continue;
      clicks.push({ userId, itemId, ts });
      const tag = variant === undefined ? undefined : this.variantOf(variant);
      if (tag !== undefined) tagged.push({ ...tag, userId, itemId, ts });
    }
    this.options.tracker.clicked(tagged);
    if (clicks.length > 0) await this.options.exposure.recordClicks(clicks);
  }

  /** A tag naming a scenario and variant that are loaded now; others are not counted. */
  private variantOf(tag: string): { scenario: string; variant: string } | undefined {
    const cut = tag.indexOf('/');
    if (cut < 0) return undefined;
    const scenario = this.options.registry.get(tag.slice(0, cut));
    const variant = tag.slice(cut + 1);
    if (scenario === undefined || !scenario.variants.some((v) => v.name === variant))
      return undefined;
    return { scenario: scenario.name, variant };
  }
}
