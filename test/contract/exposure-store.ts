import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExposureOptions, ExposureStore } from '../../src/scenarios/exposure.ts';

export const EXPOSURE_OPTIONS: ExposureOptions = { maxShown: 3, ttlMs: 60_000 };

/**
 * The behaviour every ExposureStore must have, with EXPOSURE_OPTIONS. Run in
 * process in the unit tests and against a real Redis in the integration tests.
 */
export function exposureStoreContract(
  name: string,
  open: () => Promise<ExposureStore>,
  close = async () => {},
) {
  describe(`${name} exposure store`, () => {
    let store: ExposureStore;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(close);

    it('counts showings per item and user', async () => {
      expect(await store.shownCounts('u1')).toEqual(new Map());
      await store.recordShown('u1', ['a', 'b'], 1000);
      await store.recordShown('u1', ['a'], 2000);
      await store.recordShown('u2', ['a'], 2000);
      await store.recordShown('u2', [], 2500);
      expect(await store.shownCounts('u1')).toEqual(
        new Map([
          ['a', 2],
          ['b', 1],
        ]),
      );
      expect(await store.shownCounts('u2')).toEqual(new Map([['a', 1]]));
    });

    it('forgets the least recently shown items beyond the cap', async () => {
      await store.recordShown('u3', ['a', 'b'], 1000);
      await store.recordShown('u3', ['c'], 2000);
      await store.recordShown('u3', ['a'], 3000);
      await store.recordShown('u3', ['d'], 4000);
      expect(await store.shownCounts('u3')).toEqual(
        new Map([
          ['a', 2],
          ['c', 1],
          ['d', 1],
        ]),
      );
    });

    it('adds impressions and clicks per scenario variant', async () => {
      await store.addVariantCounts([
        { scenario: 'home', variant: 'a', impressions: 10, clicks: 0 },
        { scenario: 'home', variant: 'b', impressions: 5, clicks: 1 },
        { scenario: 'other', variant: 'a', impressions: 7, clicks: 7 },
      ]);
      await store.addVariantCounts([{ scenario: 'home', variant: 'a', impressions: 2, clicks: 3 }]);
      expect(await store.variantCounts('home')).toEqual(
        new Map([
          ['a', { impressions: 12, clicks: 3 }],
          ['b', { impressions: 5, clicks: 1 }],
        ]),
      );
      expect(await store.variantCounts('none')).toEqual(new Map());
    });
  });
}
