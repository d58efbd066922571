import type { Campaign, CampaignState } from './campaign.ts';
import type { PushCounts } from './stats.ts';

export interface ActiveUser {
  userId: string;
  /** Latest view, click or push open, event time ms. */
  lastActive: number;
}

/** A campaign whose record changed since it was last written to the analytics store. */
export interface DirtyCampaign {
  id: string;
  version: number;
}

/**
 * What the push loop keeps, and reads of the counters the state store's
 * commit keeps for it. Two implementations, one contract
 * (test/contract/push-store.ts): in process (memory) and Redis.
 *
 * `now` parameters drive the in-process store's expiries; Redis expires
 * keys on its own clock (PX).
 */
export interface PushStore {
  /** push_sent and push_open counts per user, in the order asked. */
  userCounts(userIds: readonly string[]): Promise<PushCounts[]>;
  totals(): Promise<PushCounts>;
  /** Users who opened a push of the campaign. */
  openers(campaignId: string): Promise<string[]>;
  /** Users active at or after `since`. */
  activeUsers(since: number): Promise<ActiveUser[]>;
  /** Forgets users inactive since before `before`. */
  trimActive(before: number): Promise<void>;

  /** Stores a new campaign unless its id exists; true when created. */
  create(campaign: Campaign): Promise<boolean>;
  get(id: string): Promise<Campaign | undefined>;
  /** Newest first, optionally in one state. */
  list(limit: number, state?: CampaignState): Promise<Campaign[]>;
  /** Ids of campaigns not stopped. */
  live(): Promise<string[]>;
  /**
   * Saves the campaign if the stored version is still `campaign.version`, and
   * returns it with the next version; undefined when another writer was first.
   */
  save(campaign: Campaign): Promise<Campaign | undefined>;
  /** Takes the campaign's lease for `ttlMs` unless another owner holds it. */
  lease(id: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  release(id: string, owner: string): Promise<void>;

  /** The campaign holding each user's push cap, or null where none does. */
  capHolders(userIds: readonly string[], now: number): Promise<Array<string | null>>;
  /**
   * Atomically per user: skips a user already sent this campaign or holding a
   * cap; otherwise claims the user's cap for `windowMs` and records the user as
   * a recipient of `stage`. Returns the claimed users, in the order given.
   */
  claim(
    campaignId: string,
    stage: number,
    userIds: readonly string[],
    now: number,
    windowMs: number,
  ): Promise<string[]>;
  /** Recipient → stage. */
  recipients(campaignId: string): Promise<Map<string, number>>;

  /** Campaigns changed since their last analytics write, oldest changes first. */
  dirty(limit: number): Promise<DirtyCampaign[]>;
  /** Marks the campaign written at `version`; a newer change keeps it dirty. */
  clean(entry: DirtyCampaign): Promise<void>;
  /**
   * Deletes stopped campaigns created before `createdBefore` with their recipients and openers,
   * oldest first, among at most `limit` such campaigns (live ones, and with `keepUnwritten`
   * those whose last change the analytics store has not received, are kept); returns how many.
   */
  prune(createdBefore: number, limit: number, keepUnwritten: boolean): Promise<number>;

  close(): Promise<void>;
}
