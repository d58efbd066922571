import { map, type Observable } from 'rxjs';
import { validateInteraction } from '../events/schema.ts';
import type { Logger } from '../log.ts';
import type { Work } from '../pipeline/stream.ts';
import type { ChunkResult, PartitionChunk } from '../pipeline/types.ts';
import type { ClickSeen, ExposureStore } from './exposure.ts';
import type { ScenarioRegistry } from './registry.ts';
import type { VariantClick, VariantTracker } from './tracker.ts';

export interface FeedbackOptions {
  exposure: ExposureStore;
  tracker: VariantTracker;
  registry: ScenarioRegistry;
  logger: Logger;
  /** Chunks of this topic carry content events, not interactions: not read here. */
  contentsTopic: string | undefined;
}

const CLICK = Buffer.from('"click"');

/**
 * Watches the clicks the pipeline has committed, for what the scenarios need
 * beyond the model: each user's recent clicks (the `similar` source) and
 * clicks tagged with a variant (`variant: "<scenario>/<variant>"`, for
 * reports). A chunk's outcome reaches its source after this bookkeeping, in
 * order; a failure here is logged and never holds the stream back.
 *
 * Known gap: committed messages are decoded a second time here; a processor
 * hook after commit, handing over the decoded events, would save that work.
 */
export class Feedback {
  private readonly options: FeedbackOptions;
  private tail: Promise<void> = Promise.resolve();

  constructor(options: FeedbackOptions) {
    this.options = options;
  }

  observe(work$: Observable<Work>): Observable<Work> {
    return work$.pipe(map((work) => this.wrap(work)));
  }

  /** Resolves once every outcome seen so far has been passed on. */
  settled(): Promise<void> {
    return this.tail;
  }

  private wrap(work: Work): Work {
    return {
      chunk: work.chunk,
      stale: () => work.stale(),
      heartbeat: () => work.heartbeat(),
      done: (result) =>
        this.then(
          () => this.record(work.chunk, result),
          () => work.done(result),
        ),
      failed: (error) =>
        this.then(
          async () => undefined,
          () => work.failed(error),
        ),
    };
  }

  private then(task: () => Promise<void>, pass: () => void): void {
    this.tail = this.tail
      .then(task)
      .catch((err: unknown) => this.options.logger.warn({ err }, 'recent clicks not recorded'))
      .then(pass);
  }

  private async record(chunk: PartitionChunk, result: ChunkResult): Promise<void> {
    if (result.nextOffset === null || chunk.topic === this.options.contentsTopic) return;
    const clicks: ClickSeen[] = [];
    const tagged: VariantClick[] = [];
    for (const message of chunk.messages) {
      if (message.value === null || !message.value.includes(CLICK)) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(message.value.toString('utf8'));
      } catch {
        continue;
      }
      const event = validateInteraction(parsed);
      if (!event.ok || event.value.type !== 'click') continue;
      const { userId, itemId, ts, variant } = event.value;
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
