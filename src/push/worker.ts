import type { Logger } from '../log.ts';
import type { OnlineModel } from '../model/online-mf.ts';
import type { StateStore } from '../state/store.ts';
import { AudienceSelection, centroid, cosine } from './audience.ts';
import {
  beginStage,
  campaignId,
  completeStage,
  decideStage,
  hold,
  newCampaign,
  nextStep,
  organicHold,
  stop,
  type Campaign,
  type Decision,
  type Stage,
} from './campaign.ts';
import type { DecisionRule } from './decision.ts';
import type { PushParams } from './params.ts';
import type { PushRequest, PushSink } from './sink.ts';
import {
  cohortExpectation,
  globalCtr,
  smoothedCtr,
  zForLevel,
  type CohortExpectation,
} from './stats.ts';
import type { PushStore } from './store.ts';

export interface CampaignWorkerOptions {
  state: StateStore;
  push: PushStore;
  model: OnlineModel;
  sink: PushSink;
  params: PushParams;
  logger: Logger;
  /** Names this worker in leases; unique per process. */
  owner: string;
  /** The campaign clock, ms. Default: the wall clock. */
  now?: () => number;
  /** How long a campaign's lease lasts; a step must finish well within it. Default 60 s. */
  leaseMs?: number;
  /** Most contents looked at per discovery. Default 1000. */
  discoverLimit?: number;
  /** Told about what the worker did (metrics, tests). */
  observer?: WorkerObserver;
  /**
   * Users a stage's first ranking keeps, at least the stage's size; each further ranking, made
   * when earlier clicks (or caps claimed meanwhile) exclude too many of them, keeps four times
   * more. Default 4096.
   */
  rankKeep?: number;
  /** Candidates whose records are read and scored at a time. Default 1000. */
  rankPage?: number;
}

export interface WorkerObserver {
  saved?(campaign: Campaign): void;
  decided?(decision: Decision, campaign: Campaign): void;
  sent?(requests: readonly PushRequest[]): void;
}

/** Steps one campaign may take in one tick (e.g. decide, then send the next stage). */
const MAX_STEPS = 4;
/** Old campaigns examined for deletion in one pass. */
const PRUNE_LIMIT = 1000;

/**
 * Runs campaigns: creates one per content that became eligible, and moves
 * each live campaign along the state machine of `campaign.ts`. Any number of
 * workers can share a store: a lease keeps one worker per campaign at a time,
 * saves are refused over a newer version, and each recipient's weekly cap is
 * claimed atomically before the push request is emitted, so no user is pushed
 * twice inside the window whatever the workers do.
 */
export class CampaignWorker {
  private readonly options: CampaignWorkerOptions;
  private readonly rule: DecisionRule;
  private readonly now: () => number;
  private readonly known = new Set<string>();

  constructor(options: CampaignWorkerOptions) {
    for (const name of ['rankKeep', 'rankPage'] as const) {
      const value = options[name];
      if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
        throw new RangeError(`${name} must be a positive integer, not ${value}`);
      }
    }
    this.options = options;
    const { params } = options;
    this.rule = {
      targetLift: params.targetLift,
      z: zForLevel(params.confidence),
      expandFactor: params.expandFactor,
    };
    this.now = options.now ?? Date.now;
  }

  get z(): number {
    return this.rule.z;
  }

  /** One pass: discover eligible contents, then step every live campaign. */
  async tick(): Promise<void> {
    const now = this.now();
    await this.discover(now);
    for (const id of await this.options.push.live()) await this.advance(id, now);
    await this.options.push.trimActive(now - this.options.params.dormantAfterMs);
  }

  /**
   * Deletes stopped campaigns created more than `retentionMs` ago, at most PRUNE_LIMIT of the
   * oldest a call; with `keepUnwritten`, not before the analytics store has their last change.
   */
  async prune(keepUnwritten: boolean): Promise<number> {
    const createdBefore = this.now() - this.options.params.retentionMs;
    const pruned = await this.options.push.prune(createdBefore, PRUNE_LIMIT, keepUnwritten);
    if (pruned > 0) this.options.logger.info({ pruned }, 'stopped campaigns past their retention deleted');
    return pruned;
  }

  /** Creates the campaign of each content eligible at `now` and not expired. */
  async discover(now: number): Promise<void> {
    const { state, push, params } = this.options;
    // Eligible ones only, newest first: contents published since, not yet eligible, would
    // otherwise take the limit's places, and a busy publisher's older ones never be reached.
    const fresh = await state.freshContent(
      now - params.expiryMs,
      this.options.discoverLimit ?? 1000,
      now - params.delayMs,
    );
    if (this.known.size > 100_000) this.known.clear();
    for (const content of fresh) {
      const id = campaignId(content.itemId, content.publishedAt);
      if (this.known.has(id) || content.publishedAt + params.delayMs > now) continue;
      const campaign = newCampaign(content, now, params);
      if (now >= campaign.expiresAt) continue;
      if (await push.create(campaign)) {
        this.options.logger.info({ campaignId: id, itemId: content.itemId }, 'campaign created');
      }
      this.known.add(id);
    }
  }

  /** Moves one campaign as far as it can go at `now`, under its lease. */
  async advance(id: string, now: number): Promise<Campaign | undefined> {
    const { push, owner } = this.options;
    if (!(await push.lease(id, owner, now, this.options.leaseMs ?? 60_000))) return undefined;
    try {
      let campaign = await push.get(id);
      for (let i = 0; i < MAX_STEPS && campaign !== undefined; i++) {
        const next = await this.step(campaign, now);
        if (next === undefined || next === campaign) break;
        for (const d of next.decisions.slice(campaign.decisions.length)) {
          this.options.observer?.decided?.(d, next);
        }
        campaign = next;
      }
      return campaign;
    } finally {
      await push.release(id, owner);
    }
  }

  /** One transition; the same record when there is nothing to do, undefined when a save lost. */
  private async step(c: Campaign, now: number): Promise<Campaign | undefined> {
    switch (nextStep(c, now)) {
      case 'done':
      case 'wait':
      case 'observe':
        return c;
      case 'expire':
        return this.save(stop(c, now, 'expired', await this.inFlight(c), this.rule.z));
      case 'recover':
        return this.recover(c, now);
      case 'decide':
        return this.save(
          decideStage(
            c,
            now,
            await this.observed(c, c.stages[c.stages.length - 1] as Stage),
            this.rule,
          ),
        );
      case 'start': {
        const counts = await this.options.state.getItemCounts(c.itemId);
        if (organicHold(c, counts, this.options.params)) {
          const held = hold(c, now, counts);
          return held === c ? c : this.save(held);
        }
        const begun = await this.save(beginStage(c, now));
        return begun === undefined ? undefined : this.send(begun, now);
      }
    }
  }

  private async save(c: Campaign): Promise<Campaign | undefined> {
    const saved = await this.options.push.save(c);
    if (saved === undefined) {
      this.options.logger.info(
        { campaignId: c.id },
        'campaign changed by another worker; step skipped',
      );
      return undefined;
    }
    this.options.observer?.saved?.(saved);
    return saved;
  }

  /**
   * Claims the stage's recipients, emits their requests, and records the stage. A worker that
   * stops between the claim and the emit leaves those users capped without a push: at most
   * once, never twice.
   */
  private async send(c: Campaign, now: number): Promise<Campaign | undefined> {
    const stage = c.stages[c.stages.length - 1] as Stage;
    const recipients = await this.claimAudience(c, stage, now);
    const requests: PushRequest[] = recipients.map((userId) => ({
      requestId: `${c.id}/${stage.n}/${userId}`,
      campaignId: c.id,
      itemId: c.itemId,
      userId,
      stage: stage.n,
      ts: now,
    }));
    await this.options.sink.send(requests);
    this.options.observer?.sent?.(requests);
    this.options.logger.info(
      { campaignId: c.id, stage: stage.n, sent: recipients.length },
      'push stage sent',
    );
    return this.save(
      completeStage(
        c,
        now,
        recipients.length,
        await this.expectation(recipients),
        this.options.params,
      ),
    );
  }

  /** A stage left in `sending` by a worker that stopped: completed from its recorded recipients, not emitted again. */
  private async recover(c: Campaign, now: number): Promise<Campaign | undefined> {
    const stage = c.stages[c.stages.length - 1] as Stage;
    const users = [...(await this.options.push.recipients(c.id))]
      .filter(([, n]) => n === stage.n)
      .map(([u]) => u);
    this.options.logger.warn(
      { campaignId: c.id, stage: stage.n, recipients: users.length },
      'push stage recovered',
    );
    return this.save(
      completeStage(c, now, users.length, await this.expectation(users), this.options.params),
    );
  }

  /** The stage in flight, with its opens so far, for a stop mid-stage. */
  private async inFlight(c: Campaign) {
    const stage = c.stages[c.stages.length - 1];
    if (stage === undefined || (c.state !== 'observing' && c.state !== 'sending')) return undefined;
    if (c.state === 'sending') {
      const users = [...(await this.options.push.recipients(c.id))]
        .filter(([, n]) => n === stage.n)
        .map(([u]) => u);
      return { sent: users.length, observed: 0, ...(await this.expectation(users)) };
    }
    return {
      sent: stage.sent,
      observed: await this.observed(c, stage),
      expected: stage.expected,
      variance: stage.variance,
    };
  }

  /** Recipients of the stage who opened the campaign's push. */
  private async observed(c: Campaign, stage: Stage): Promise<number> {
    const { push } = this.options;
    const [openers, recipients] = await Promise.all([push.openers(c.id), push.recipients(c.id)]);
    return openers.filter((u) => recipients.get(u) === stage.n).length;
  }

  /** Σ p and Σ p(1-p) over the recipients' usual push CTRs, smoothed towards the global push CTR. */
  private async expectation(users: readonly string[]): Promise<CohortExpectation> {
    const { push, params } = this.options;
    const [counts, totals] = await Promise.all([push.userCounts(users), push.totals()]);
    const g = globalCtr(totals, params.priorCtr);
    return cohortExpectation(counts.map((c) => smoothedCtr(c, g, params.smoothing)));
  }

  /** Ranks the eligible users and claims caps down the ranking until the stage is full. */
  private async claimAudience(c: Campaign, stage: Stage, now: number): Promise<string[]> {
    const { push, state, params } = this.options;
    const claimed: string[] = [];
    for (let keep = Math.max(this.options.rankKeep ?? 4096, stage.size); ; keep *= 4) {
      // The ranking holds users without a cap when it read them; users claimed by an earlier
      // pass are recipients now and hold caps, which a new ranking leaves out. A cap another
      // worker takes meanwhile is skipped by the claim itself, which takes each one atomically.
      const { ranked, complete } = await this.rank(c, now, keep);
      let next = 0;
      while (claimed.length < stage.size && next < ranked.length) {
        const want = stage.size - claimed.length;
        const batch: string[] = [];
        while (batch.length < want && next < ranked.length) {
          const slice = ranked.slice(next, next + Math.max(want * 2, 64));
          next += slice.length;
          const clicked = await Promise.all(slice.map((u) => state.getClicked(u)));
          slice.forEach((u, i) => {
            if (batch.length < want && !(clicked[i] as string[]).includes(c.itemId)) batch.push(u);
          });
        }
        claimed.push(...(await push.claim(c.id, stage.n, batch, now, params.capWindowMs)));
      }
      if (claimed.length >= stage.size || complete) return claimed;
    }
  }

  /**
   * The first `keep` users, in audience order, of those active within the dormancy horizon, not
   * yet sent this content and holding no cap when read; `complete` when that is all of them.
   * The candidates are read a page at a time, their caps first and then the records of those
   * without one: beside the active users' ids, the ranking holds one page's records and
   * 2 × `keep` entries, not every candidate's record.
   * Known gap: every active user's cap and uncapped record is still read at each stage; an index
   * of user vectors (nearest neighbours of the content and its clickers) is the exit for millions.
   */
  private async rank(c: Campaign, now: number, keep: number): Promise<{ ranked: string[]; complete: boolean }> {
    const { push, state, model, params } = this.options;
    const [pool, sent, openers] = await Promise.all([
      push.activeUsers(now - params.dormantAfterMs),
      push.recipients(c.id),
      push.openers(c.id),
    ]);
    // Lookalike seeds: the openers who were sent the content or are active.
    const opened = new Set(openers);
    const seedIds = openers.filter((u) => sent.has(u));
    for (const u of pool) if (opened.has(u.userId) && !sent.has(u.userId)) seedIds.push(u.userId);
    const seedSnapshot = await state.loadSnapshot(seedIds, [c.itemId]);
    const item = seedSnapshot.items.get(c.itemId) ?? model.newItem(c.itemId, now);
    const seeds = seedIds.flatMap((u) => seedSnapshot.users.get(u)?.vec ?? []);
    const center = seeds.length >= params.lookalikeMinClickers ? centroid(seeds) : undefined;

    const selection = new AudienceSelection(keep, now, params.inactiveAfterMs);
    const candidates = pool.filter((u) => !sent.has(u.userId));
    const page = this.options.rankPage ?? 1000;
    let uncapped = 0;
    for (let from = 0; from < candidates.length; from += page) {
      const slice = candidates.slice(from, from + page);
      const holders = await push.capHolders(slice.map((u) => u.userId), now);
      const users = slice.filter((_, i) => holders[i] === null);
      uncapped += users.length;
      const snapshot = await state.loadSnapshot(users.map((u) => u.userId), []);
      for (const u of users) {
        const user = snapshot.users.get(u.userId);
        let preference = model.score(user, item, now);
        if (center !== undefined && user !== undefined) {
          preference += params.lookalikeWeight * cosine(user.vec, center);
        }
        selection.offer({ userId: u.userId, lastActive: u.lastActive, preference });
      }
    }
    return { ranked: selection.ordered(), complete: uncapped <= keep };
  }
}
