import type { InteractionEvent } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { ScenarioRegistry } from './registry.ts';
import type { VariantClick, VariantTracker } from './tracker.ts';

export interface FeedbackOptions {
  tracker: VariantTracker;
  registry: ScenarioRegistry;
  logger: Logger;
}

/**
 * Takes the events the pipeline has committed (its after-commit hook) and
 * counts the clicks tagged with a variant (`variant: "<scenario>/<variant>"`)
 * for the scenario reports. A failure here is logged and never fails the
 * batch, which is already durable.
 */
export class Feedback {
  private readonly options: FeedbackOptions;

  constructor(options: FeedbackOptions) {
    this.options = options;
  }

  committed(events: readonly InteractionEvent[]): void {
    try {
      const tagged: VariantClick[] = [];
      for (const { type, userId, itemId, ts, variant } of events) {
        if (type !== 'click' || variant === undefined) continue;
        const tag = this.variantOf(variant);
        if (tag !== undefined) tagged.push({ ...tag, userId, itemId, ts });
      }
      this.options.tracker.clicked(tagged);
    } catch (err) {
      this.options.logger.warn({ err }, 'variant clicks not counted');
    }
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
