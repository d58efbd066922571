import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExposureOptions, ExposureStore } from '../../src/scenarios/exposure.ts';

export const EXPOSURE_OPTIONS: ExposureOptions = { maxShown: 3, ttlMs: 60_000, maxRecentClicks: 2 };

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

    it('keeps the newest clicks by event time, late ones in their place', async () => {
      await store.recordClicks([
        { userId: 'u4', itemId: 'x', ts: 3000 },
        { userId: 'u4', itemId: 'y', ts: 1000 },
        { userId: 'u5', itemId: 'x', ts: 500 },
      ]);
      await store.recordClicks([
        { userId: 'u4', itemId: 'z', ts: 2000 },
        { userId: 'u4', itemId: 'x', ts: 100 },
      ]);
      expect(await store.recentClicks('u4', 5)).toEqual(['x', 'z']);
      expect(await store.recentClicks('u4', 1)).toEqual(['x']);
      expect(await store.recentClicks('u5', 5)).toEqual(['x']);
      expect(await store.recentClicks('nobody', 5)).toEqual([]);
    });

    it('keeps the newest clicks when one call holds many users, repeats and more than the cap', async () => {
      // Users interleaved, an item clicked again earlier and later, and 6,000 clicks in all:
      // more than one script call's worth for the Redis store.
      const clicks = [
        { userId: 'u6', itemId: 'a', ts: 10 },
        { userId: 'u7', itemId: 'a', ts: 50 },
        { userId: 'u6', itemId: 'b', ts: 30 },
        { userId: 'u6', itemId: 'a', ts: 40 },
        { userId: 'u6', itemId: 'c', ts: 20 },
        { userId: 'u6', itemId: 'b', ts: 5 },
        { userId: 'u7', itemId: 'b', ts: 60 },
        ...Array.from({ length: 5_993 }, (_, n) => ({ userId: `many${n % 3_000}`, itemId: `i${n}`, ts: n })),
        { userId: 'u7', itemId: 'c', ts: 55 },
      ];
      await store.recordClicks(clicks);
      expect(await store.recentClicks('u6', 5)).toEqual(['a', 'b']);
      expect(await store.recentClicks('u7', 5)).toEqual(['b', 'c']);
      expect(await store.recentClicks('many0', 5)).toEqual(['i3000', 'i0']);
      expect(await store.recentClicks('many2992', 5)).toEqual(['i5992', 'i2992']);
      expect(await store.recentClicks('many2999', 5)).toEqual(['i2999']);
    });

    it('keeps the newest clicks of a user with more clicks in one call than the store adds at once', async () => {
      const clicks = Array.from({ length: 1_500 }, (_, n) => ({ userId: 'heavy', itemId: `h${n}`, ts: 1_000 + n }));
      await store.recordClicks(clicks);
      expect(await store.recentClicks('heavy', 5)).toEqual(['h1499', 'h1498']);
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
