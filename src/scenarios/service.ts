import { FreshetError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { assignVariant } from './buckets.ts';
import { gatherCandidates, type CandidateDeps } from './candidates.ts';
import type { ExposureStore } from './exposure.ts';
import { rankCandidates, type ItemFacts, type Ranked } from './rank.ts';
import type { VariantTracker } from './tracker.ts';
import type { Plan, Scenario } from './types.ts';

export interface ScenarioRequest {
  /** The version taken when the request arrived; the whole request runs on it. */
  scenario: Scenario;
  userId: string | undefined;
  /** The item of a similar-items page. */
  itemId: string | undefined;
  /** Asked length; undefined takes the plan's default. */
  k: number | undefined;
}

export interface ScenarioAnswer {
  scenario: string;
  variant: string;
  version: string;
  coldStart: boolean;
  items: Ranked[];
}

export interface ServiceOptions extends CandidateDeps {
  tracker: VariantTracker;
  exposure: ExposureStore;
  now?: () => number;
}

function needsFacts(plan: Plan): boolean {
  const { filters } = plan;
  return (
    filters.categories !== undefined ||
    filters.expired ||
    plan.maxPerCategory !== undefined ||
    plan.demotions.some((d) => d.when === 'category' || d.when === 'older')
  );
}

/** Answers one scenario request: variant, candidates, rules, then remembers what was shown. */
export class ScenarioService {
  private readonly options: ServiceOptions;
  private readonly now: () => number;

  constructor(options: ServiceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async recommend(request: ScenarioRequest, log: Pick<Logger, 'warn'>): Promise<ScenarioAnswer> {
    const { scenario, userId, itemId } = request;
    const variant = assignVariant(scenario, userId);
    const plan = variant.plan;
    const k = request.k ?? plan.k.default;
    if (k > plan.k.max) {
      throw new FreshetError(
        'request_invalid',
        `k must be at most ${plan.k.max} for scenario ${scenario.name}`,
        {
          field: 'k',
        },
      );
    }

    const { reads, exposure, tracker } = this.options;
    const wantsClicked = plan.filters.clicked || plan.demotions.some((d) => d.when === 'clicked');
    const wantsShown =
      plan.filters.shown !== undefined || plan.demotions.some((d) => d.when === 'seen');
    const clock = await reads.clock();
    const [gathered, clicked, shown] = await Promise.all([
      gatherCandidates(this.options, plan, { userId, itemId, clock }),
      userId !== undefined && wantsClicked ? reads.getClicked(userId) : [],
      userId !== undefined && wantsShown ? exposure.shownCounts(userId) : new Map<string, number>(),
    ]);

    const facts = new Map<string, ItemFacts>();
    if (needsFacts(plan)) {
      const ids = [...new Set(gathered.lists.flatMap((l) => l.items.map((s) => s.id)))];
      const contents = await reads.getContents(ids);
      ids.forEach((id, i) => {
        const c = contents[i];
        if (c !== undefined)
          facts.set(id, {
            category: c.category,
            publishedAt: c.publishedAt,
            ttlSeconds: c.ttlSeconds,
          });
      });
    }
    const items = rankCandidates(plan, gathered.lists, {
      clock,
      clicked: new Set(clicked),
      shown,
      facts,
      exclude: new Set(itemId === undefined ? [] : [itemId]),
      k,
    });

    tracker.served(scenario.name, variant.name, items.length);
    if (userId !== undefined && items.length > 0) {
      await exposure
        .recordShown(
          userId,
          items.map((i) => i.itemId),
          this.now(),
        )
        .catch((err: unknown) => {
          log.warn({ err, scenario: scenario.name }, 'shown items not recorded');
        });
    }
    return {
      scenario: scenario.name,
      variant: variant.name,
      version: scenario.version,
      coldStart: gathered.coldStart,
      items,
    };
  }
}
