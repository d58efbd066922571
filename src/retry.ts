import type { Logger } from './log.ts';

export interface RetryOptions {
  /** What failed, for the log: "<what>; retrying in N ms". */
  what: string;
  logger: Logger;
  /** Checked after each failure and while waiting: true gives up. */
  stopped: () => boolean;
  /** Wait after the first failure, doubled after each next one up to `maxWaitMs`. Default 1 s. */
  firstWaitMs?: number;
  /** Default 30 s. */
  maxWaitMs?: number;
  /** Errors no retry mends: thrown at once. Default none. */
  permanent?: (err: unknown) => boolean;
}

/** The wait before retry number `attempt` (from 1): `firstMs`, doubled each time, at most `maxMs`. */
export function backoffMs(attempt: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** (attempt - 1));
}

/** How often a wait checks `stopped`, ms. */
const POLL_MS = 100;

/**
 * Runs `step` until it resolves, logging each failure and waiting before the next attempt;
 * resolves undefined once `stopped()` turns true instead, and rejects with a permanent error.
 */
export async function retryUntilDone<T>(step: () => Promise<T>, options: RetryOptions): Promise<T | undefined> {
  const first = options.firstWaitMs ?? 1_000;
  const most = options.maxWaitMs ?? 30_000;
  for (let attempt = 1; !options.stopped(); attempt++) {
    try {
      return await step();
    } catch (err) {
      if (options.permanent?.(err) === true) throw err;
      const waitMs = backoffMs(attempt, first, most);
      options.logger.warn({ err, attempt, waitMs }, `${options.what}; retrying`);
      for (let waited = 0; waited < waitMs && !options.stopped(); waited += POLL_MS) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, waitMs - waited)));
      }
    }
  }
  return undefined;
}
