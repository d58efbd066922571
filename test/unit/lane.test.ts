import { describe, expect, it } from 'vitest';
import { Lane } from '../../src/sources/lane.ts';

/** A lane whose items wait until the test settles them, in the order they were applied. */
function controlled(depth: number) {
  const applied: string[] = [];
  const pending: Array<{ item: string; settle(ok: boolean | Error): void }> = [];
  const lane = new Lane<string>(depth, (item) => {
    applied.push(item);
    return new Promise<boolean>((resolve, reject) => {
      pending.push({ item, settle: (ok) => (ok instanceof Error ? reject(ok) : resolve(ok)) });
    });
  });
  const settle = async (ok: boolean | Error = true) => {
    const next = pending.shift();
    if (next === undefined) throw new Error('nothing is being applied');
    next.settle(ok);
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  return { lane, applied, settle };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('lane', () => {
  it('should apply items one at a time, in order, and queue `depth` behind the one applied', async () => {
    const { lane, applied, settle } = controlled(1);
    expect(await lane.offer('a')).toBe(true);
    expect(await lane.offer('b')).toBe(true);
    expect(applied).toEqual(['a']);
    expect(lane.size).toBe(2);

    let thirdQueued = false;
    const third = lane.offer('c').then((queued) => (thirdQueued = queued));
    await flush();
    expect(thirdQueued).toBe(false);

    await settle();
    expect(applied).toEqual(['a', 'b']);
    await third;
    expect(thirdQueued).toBe(true);
    await settle();
    expect(applied).toEqual(['a', 'b', 'c']);
    await settle();
    await lane.idle();
    expect(lane.size).toBe(0);
  });

  it('should wait for room with depth 0 until the item applied settles', async () => {
    const { lane, applied, settle } = controlled(0);
    await lane.offer('a');
    let queued = false;
    const second = lane.offer('b').then((q) => (queued = q));
    await flush();
    expect(queued).toBe(false);
    await settle();
    await second;
    expect(queued).toBe(true);
    expect(applied).toEqual(['a', 'b']);
    await settle();
  });

  it('should drop the items behind one not applied, and refuse those offered before that', async () => {
    const { lane, applied, settle } = controlled(1);
    const epoch = lane.epoch;
    await lane.offer('a', epoch);
    await lane.offer('b', epoch);
    const late = lane.offer('c', epoch);
    await settle(false);
    expect(await late).toBe(false);
    await lane.idle();
    expect(applied).toEqual(['a']);
    expect(lane.size).toBe(0);

    // Offers made after it, with the new epoch, are applied.
    expect(await lane.offer('a2', lane.epoch)).toBe(true);
    expect(applied).toEqual(['a', 'a2']);
    await settle();
  });

  it('should treat an item whose apply throws as not applied', async () => {
    const { lane, applied, settle } = controlled(1);
    await lane.offer('a');
    await lane.offer('b');
    await settle(new Error('store down'));
    await lane.idle();
    expect(applied).toEqual(['a']);
  });

  it('should let the item being applied finish on a reset, and apply nothing queued before it', async () => {
    const { lane, applied, settle } = controlled(1);
    await lane.offer('a');
    await lane.offer('b');
    lane.reset();
    expect(lane.size).toBe(1);
    expect(await lane.offer('c')).toBe(true);
    // 'c' waits behind 'a', which is still being applied; 'b' is gone.
    expect(applied).toEqual(['a']);
    await settle();
    expect(applied).toEqual(['a', 'c']);
    await settle();
    await lane.idle();
    expect(applied).toEqual(['a', 'c']);
  });

  it('should resolve atMost(n) once no more than n items are applied or waiting, or on a reset', async () => {
    const { lane, settle } = controlled(1);
    await lane.offer('a');
    await lane.offer('b');
    let down = false;
    const waited = lane.atMost(1).then(() => (down = true));
    await flush();
    expect(down).toBe(false);
    await settle();
    await waited;
    expect(down).toBe(true);
    expect(lane.size).toBe(1);

    await lane.offer('c');
    let reset = false;
    const cut = lane.atMost(0).then(() => (reset = true));
    await flush();
    expect(reset).toBe(false);
    lane.reset();
    await cut;
    expect(reset).toBe(true);
    // The item being applied goes on: atMost(0) waited for the reset, not for the lane to empty.
    expect(lane.size).toBe(1);
    await settle();
    await lane.idle();
  });
});
