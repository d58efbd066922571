/**
 * Baselines without the feedback loop: each content that passes the same
 * candidate rules (delay, expiry, organic CTR threshold) gets one cohort at
 * once, chosen without the model, through the same cap claims as the loop.
 */
import type { ContentEvent } from '../../events/schema.ts';
import { campaignId, newCampaign, organicHold } from '../campaign.ts';
import type { PushRequest } from '../sink.ts';
import type { SimContext, Strategy } from './run.ts';

/** How many recipients a content gets: a number, or every eligible user. */
export type Allocation = (itemId: string) => number | 'all';

/** How the cohort is picked among the eligible users. */
export type Order = 'random' | 'most-active';

export class OneShotAudience implements Strategy {
  private readonly context: SimContext;
  private readonly allocation: Allocation;
  private readonly order: Order;
  private readonly done = new Set<string>();

  constructor(context: SimContext, allocation: Allocation, order: Order) {
    this.context = context;
    this.allocation = allocation;
    this.order = order;
  }

  async tick(now: number): Promise<void> {
    const { state, params } = this.context;
    const fresh = await state.freshContent(now - params.expiryMs, 10_000);
    for (const content of fresh.sort((a, b) => a.publishedAt - b.publishedAt)) {
      const id = campaignId(content.itemId, content.publishedAt);
      const campaign = newCampaign(content, now, params);
      if (this.done.has(id) || now < campaign.eligibleAt || now >= campaign.expiresAt) continue;
      if (organicHold(campaign, await state.getItemCounts(content.itemId), params)) continue;
      this.done.add(id);
      await this.send(content, id, now);
    }
  }

  private async send(content: ContentEvent, id: string, now: number): Promise<void> {
    const { state, push, sink, params } = this.context;
    const wanted = this.allocation(content.itemId);
    if (wanted === 0) return;
    const pool = await push.activeUsers(now - params.dormantAfterMs);
    const ids = pool.map((u) => u.userId).sort();
    const [holders, clicked] = await Promise.all([
      push.capHolders(ids, now),
      Promise.all(ids.map((u) => state.getClicked(u))),
    ]);
    const free = ids.filter(
      (_, i) => holders[i] === null && !(clicked[i] as string[]).includes(content.itemId),
    );
    const ordered =
      this.order === 'random' ? this.shuffle(free) : this.byActivity(free, clicked, ids);
    const cohort = wanted === 'all' ? ordered : ordered.slice(0, wanted);
    const claimed = await push.claim(id, 1, cohort, now, params.capWindowMs);
    const requests: PushRequest[] = claimed.map((userId) => ({
      requestId: `${id}/1/${userId}`,
      campaignId: id,
      itemId: content.itemId,
      userId,
      stage: 1,
      ts: now,
    }));
    await sink.send(requests);
  }

  private shuffle(ids: string[]): string[] {
    const out = ids.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.context.random() * (i + 1));
      [out[i], out[j]] = [out[j] as string, out[i] as string];
    }
    return out;
  }

  /** Heaviest readers first: most items clicked so far (the popularity of the user, not of the content). */
  private byActivity(free: string[], clicked: string[][], ids: string[]): string[] {
    const count = new Map(ids.map((u, i) => [u, (clicked[i] as string[]).length]));
    return free
      .slice()
      .sort((a, b) => (count.get(b) ?? 0) - (count.get(a) ?? 0) || (a < b ? -1 : 1));
  }
}
