import type { Campaign, CampaignState } from './campaign.ts';
import type { MemoryPushLedger } from './ledger.ts';
import type { PushCounts } from './stats.ts';
import type { ActiveUser, DirtyCampaign, PushStore } from './store.ts';

function copy(c: Campaign): Campaign {
  return structuredClone(c);
}

/** The push loop's state in process, over the in-process state store's push counters. */
export class MemoryPushStore implements PushStore {
  private readonly ledger: MemoryPushLedger;
  private readonly campaigns = new Map<string, Campaign>();
  private readonly leases = new Map<string, { owner: string; until: number }>();
  private readonly caps = new Map<string, { campaignId: string; until: number }>();
  private readonly sent = new Map<string, Map<string, number>>();
  private readonly changed = new Map<string, number>();

  constructor(ledger: MemoryPushLedger) {
    this.ledger = ledger;
  }

  async userCounts(userIds: readonly string[]): Promise<PushCounts[]> {
    return userIds.map((id) => this.ledger.userCounts(id));
  }

  async totals(): Promise<PushCounts> {
    return { ...this.ledger.totals };
  }

  async openers(campaignId: string): Promise<string[]> {
    return [...(this.ledger.openers.get(campaignId) ?? [])];
  }

  async activeUsers(since: number): Promise<ActiveUser[]> {
    const out: ActiveUser[] = [];
    for (const [userId, lastActive] of this.ledger.active) {
      if (lastActive >= since) out.push({ userId, lastActive });
    }
    return out;
  }

  async trimActive(before: number): Promise<void> {
    this.ledger.trimActive(before);
  }

  async create(campaign: Campaign): Promise<boolean> {
    if (this.campaigns.has(campaign.id)) return false;
    this.campaigns.set(campaign.id, copy(campaign));
    this.changed.set(campaign.id, campaign.version);
    return true;
  }

  async get(id: string): Promise<Campaign | undefined> {
    const c = this.campaigns.get(id);
    return c === undefined ? undefined : copy(c);
  }

  async list(limit: number, state?: CampaignState): Promise<Campaign[]> {
    return [...this.campaigns.values()]
      .filter((c) => state === undefined || c.state === state)
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map(copy);
  }

  async live(): Promise<string[]> {
    return [...this.campaigns.values()].filter((c) => c.state !== 'stopped').map((c) => c.id);
  }

  async save(campaign: Campaign): Promise<Campaign | undefined> {
    const stored = this.campaigns.get(campaign.id);
    if (stored === undefined || stored.version !== campaign.version) return undefined;
    const next = { ...copy(campaign), version: campaign.version + 1 };
    this.campaigns.set(campaign.id, next);
    this.changed.set(campaign.id, next.version);
    return copy(next);
  }

  async lease(id: string, owner: string, now: number, ttlMs: number): Promise<boolean> {
    const held = this.leases.get(id);
    if (held !== undefined && held.until > now && held.owner !== owner) return false;
    this.leases.set(id, { owner, until: now + ttlMs });
    return true;
  }

  async release(id: string, owner: string): Promise<void> {
    if (this.leases.get(id)?.owner === owner) this.leases.delete(id);
  }

  async capHolders(userIds: readonly string[], now: number): Promise<Array<string | null>> {
    return userIds.map((id) => {
      const cap = this.caps.get(id);
      return cap !== undefined && cap.until > now ? cap.campaignId : null;
    });
  }

  async claim(
    campaignId: string,
    stage: number,
    userIds: readonly string[],
    now: number,
    windowMs: number,
  ): Promise<string[]> {
    const sent = this.sent.get(campaignId) ?? new Map<string, number>();
    this.sent.set(campaignId, sent);
    // Caps in the order claimed, so the lapsed ones come first (the window is the loop's own).
    for (const [id, cap] of this.caps) {
      if (cap.until > now) break;
      this.caps.delete(id);
    }
    const claimed: string[] = [];
    for (const id of userIds) {
      if (sent.has(id)) continue;
      const cap = this.caps.get(id);
      if (cap !== undefined && cap.until > now) continue;
      if (windowMs > 0) {
        this.caps.delete(id);
        this.caps.set(id, { campaignId, until: now + windowMs });
      }
      sent.set(id, stage);
      claimed.push(id);
    }
    return claimed;
  }

  async recipients(campaignId: string): Promise<Map<string, number>> {
    return new Map(this.sent.get(campaignId) ?? []);
  }

  async dirty(limit: number): Promise<DirtyCampaign[]> {
    return [...this.changed].slice(0, limit).map(([id, version]) => ({ id, version }));
  }

  async clean(entry: DirtyCampaign): Promise<void> {
    if (this.changed.get(entry.id) === entry.version) this.changed.delete(entry.id);
  }

  async prune(createdBefore: number, limit: number, keepUnwritten: boolean): Promise<number> {
    const old = [...this.campaigns.values()]
      .filter((c) => c.createdAt < createdBefore)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
    let n = 0;
    for (const c of old) {
      if (c.state !== 'stopped' || (keepUnwritten && this.changed.has(c.id))) continue;
      this.campaigns.delete(c.id);
      this.sent.delete(c.id);
      this.leases.delete(c.id);
      this.changed.delete(c.id);
      this.ledger.openers.delete(c.id);
      n++;
    }
    return n;
  }

  async close(): Promise<void> {}
}
