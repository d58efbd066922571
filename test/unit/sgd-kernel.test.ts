import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_PARAMS } from '../../src/model/params.ts';
import { seededRandom } from '../../src/model/random.ts';
import type { ItemRecord, UserRecord } from '../../src/model/records.ts';
import { pairStep } from '../../src/model/sgd.ts';
import { SgdKernel } from '../../src/model/sgd-kernel.ts';
import { SGD_KERNEL_WASM } from '../../src/model/sgd-kernel-wasm.ts';
import { instantiateKernel } from '../../src/model/wasm-module.ts';

const steps = DEFAULT_MODEL_PARAMS;

interface World {
  users: UserRecord[];
  items: ItemRecord[];
}

function world(dims: number, seed: number, scale = 0.1): World {
  const random = seededRandom(seed);
  const vec = () => Float32Array.from({ length: dims }, () => (random() - 0.5) * 2 * scale);
  return {
    users: Array.from({ length: 5 }, () => ({ ts: 0, count: 0, vec: vec() })),
    items: Array.from({ length: 40 }, () => ({ ts: 0, bias: random() - 0.5, views: 0, clicks: 0, vec: vec() })),
  };
}

function copy(w: World): World {
  return {
    users: w.users.map((u) => ({ ...u, vec: u.vec.slice() })),
    items: w.items.map((i) => ({ ...i, vec: i.vec.slice() })),
  };
}

/** Largest difference between two worlds' vectors and biases. */
function distance(a: World, b: World): number {
  let max = 0;
  a.users.forEach((u, n) => u.vec.forEach((v, f) => (max = Math.max(max, Math.abs(v - (b.users[n]?.vec[f] as number))))));
  a.items.forEach((i, n) => {
    max = Math.max(max, Math.abs(i.bias - (b.items[n]?.bias as number)));
    i.vec.forEach((v, f) => (max = Math.max(max, Math.abs(v - (b.items[n]?.vec[f] as number)))));
  });
  return max;
}

interface Call {
  user: number;
  pos: number;
  negatives: number[];
  weight: number;
  updateBias: boolean;
}

/** Runs the calls on both: the JavaScript steps on `js`, the kernel on `simd`. */
function run(kernel: SgdKernel, js: World, simd: World, calls: Call[]): void {
  for (const call of calls) {
    const [user, pos] = [js.users[call.user] as UserRecord, js.items[call.pos] as ItemRecord];
    for (const n of call.negatives) pairStep(steps, user, pos, js.items[n] as ItemRecord, call.weight, call.updateBias);
    const negatives = call.negatives.map((n) => simd.items[n] as ItemRecord);
    kernel.pairs(steps, simd.users[call.user] as UserRecord, simd.items[call.pos] as ItemRecord, negatives, call.weight, call.updateBias);
  }
}

function calls(count: number, negatives: number, seed: number, items = 40): Call[] {
  const random = seededRandom(seed);
  const pick = () => Math.floor(random() * items);
  return Array.from({ length: count }, (_, n) => ({
    user: n % 5,
    pos: pick(),
    negatives: Array.from({ length: negatives }, pick),
    weight: 0.2 + random(),
    updateBias: n % 3 !== 0,
  }));
}

describe('the SIMD BPR kernel', () => {
  for (const dims of [32, 64, 4]) {
    it(`takes the same steps as pairStep, to float32 rounding, on vectors of ${dims} floats`, () => {
      const kernel = SgdKernel.create(dims) as SgdKernel;
      const js = world(dims, dims);
      const simd = copy(js);
      // 40 items and 20 negatives a call: most calls repeat a negative or draw the positive.
      const list = calls(200, 20, dims + 1);
      expect(list.some((c) => c.negatives.includes(c.pos))).toBe(true);
      expect(list.some((c) => new Set(c.negatives).size < c.negatives.length)).toBe(true);
      run(kernel, js, simd, list);
      expect(distance(js, world(dims, dims))).toBeGreaterThan(0.05);
      expect(distance(js, simd)).toBeLessThan(1e-4);
    });
  }

  it('steps a repeated negative, and the positive drawn as a negative, in place, one step after the other', () => {
    const kernel = SgdKernel.create(8) as SgdKernel;
    const js = world(8, 3);
    const simd = copy(js);
    run(kernel, js, simd, [
      { user: 0, pos: 1, negatives: [2, 2, 2, 1, 2, 1], weight: 1, updateBias: true },
      { user: 1, pos: 3, negatives: [3], weight: 1, updateBias: true },
    ]);
    expect(distance(js, simd)).toBeLessThan(1e-6);
  });

  it('takes long lists of negatives (a news impression), growing its memory', () => {
    const kernel = SgdKernel.create(64) as SgdKernel;
    const js = world(64, 9);
    const simd = copy(js);
    // 300 negatives over 40 items: the mapped path, with repeats, and memory beyond the first page.
    run(kernel, js, simd, calls(20, 300, 11));
    expect(distance(js, simd)).toBeLessThan(1e-4);
  });

  it('computes the logistic weight from e^x alone, saturating as far out as pairStep', () => {
    const kernel = SgdKernel.create(4) as SgdKernel;
    // Long vectors: |x| runs past 1,000, where Math.exp overflows and the kernel clamps e^x.
    const js = world(4, 5, 20);
    const simd = copy(js);
    run(kernel, js, simd, calls(100, 3, 6));
    expect(distance(js, simd)).toBeLessThan(1e-4);
  });

  it('lets NaN through as pairStep does, instead of trapping', () => {
    const kernel = SgdKernel.create(8) as SgdKernel;
    const js = world(8, 12);
    (js.items[3] as ItemRecord).bias = Number.NaN;
    const simd = copy(js);
    const poisoned: Call = { user: 0, pos: 1, negatives: [2, 3], weight: 1, updateBias: true };
    run(kernel, js, simd, [poisoned]);
    for (const w of [js, simd]) {
      expect((w.users[0] as UserRecord).vec.every(Number.isNaN)).toBe(true);
      expect(Number.isNaN((w.items[1] as ItemRecord).bias)).toBe(true);
      expect(Number.isFinite((w.items[2] as ItemRecord).bias)).toBe(true);
    }
    // The kernel goes on stepping other records as before.
    run(kernel, js, simd, [{ user: 1, pos: 4, negatives: [5, 6], weight: 1, updateBias: true }]);
    expect(Math.abs((js.items[5] as ItemRecord).bias - (simd.items[5] as ItemRecord).bias)).toBeLessThan(1e-6);
  });

  it('takes room for the distinct negatives, not for every entry of the list', () => {
    const kernel = SgdKernel.create(1024) as SgdKernel;
    const w = world(1024, 13, 0.001);
    // 1,100,000 entries of one record: a slot for each would pass WebAssembly's 4 GiB.
    const negatives = new Array<ItemRecord>(1_100_000).fill(w.items[2] as ItemRecord);
    // Without regularization the vectors keep their scale: shrunk over a million steps they turn
    // subnormal, which some processors compute a hundred times slower (minutes for this test).
    const unshrunk = { ...steps, regularization: 0, biasRegularization: 0 };
    kernel.pairs(unshrunk, w.users[0] as UserRecord, w.items[1] as ItemRecord, negatives, 1e-6);
    expect(Number.isFinite((w.items[2] as ItemRecord).bias)).toBe(true);
  });

  it('is left as it was by a call that throws, and steps the next one right', () => {
    const kernel = SgdKernel.create(8) as SgdKernel;
    const js = world(8, 14);
    const simd = copy(js);
    const before = copy(simd);
    const wrong: ItemRecord = { ts: 0, bias: 0, views: 0, clicks: 0, vec: new Float32Array(16) };
    // A long list (mapped slots), one of its vectors of another length.
    const list = [...simd.items.slice(2, 20), wrong, ...simd.items.slice(20, 40)];
    expect(() => kernel.pairs(steps, simd.users[0] as UserRecord, simd.items[1] as ItemRecord, list, 1)).toThrow(RangeError);
    expect(distance(simd, before)).toBe(0);
    run(kernel, js, simd, [{ user: 0, pos: 1, negatives: Array.from({ length: 38 }, (_, i) => 2 + i), weight: 1, updateBias: true }]);
    expect(distance(js, simd)).toBeLessThan(1e-5);
  });

  it('steps only the first `count` entries of a list it is given', () => {
    const kernel = SgdKernel.create(8) as SgdKernel;
    const js = world(8, 15);
    const simd = copy(js);
    run(kernel, js, simd, [{ user: 0, pos: 1, negatives: [2, 3], weight: 1, updateBias: true }]);
    const before = copy(simd);
    const list = [simd.items[4], simd.items[5], simd.items[6], undefined];
    kernel.pairs(steps, simd.users[0] as UserRecord, simd.items[1] as ItemRecord, list, 1, true, 2);
    for (const n of [4, 5]) pairStep(steps, js.users[0] as UserRecord, js.items[1] as ItemRecord, js.items[n] as ItemRecord, 1, true);
    expect(distance(js, simd)).toBeLessThan(1e-6);
    expect((simd.items[6] as ItemRecord).vec).toEqual((before.items[6] as ItemRecord).vec);
  });

  it('has an e^x within 1e-8 of Math.exp, relative, for |x| <= 40', () => {
    const { exp } = instantiateKernel<{ exp: (x: number) => number }>(SGD_KERNEL_WASM);
    let worst = 0;
    for (let x = -40; x <= 40; x += 0.01) worst = Math.max(worst, Math.abs(exp(x) / Math.exp(x) - 1));
    expect(worst).toBeLessThan(1e-8);
    expect(exp(0)).toBe(1);
    expect(exp(1000)).toBe(exp(40));
  });

  it('leaves a length it cannot step four floats at a time to pairStep', () => {
    expect(SgdKernel.create(6)).toBeUndefined();
    expect(SgdKernel.create(0)).toBeUndefined();
    expect(SgdKernel.create(12)).toBeInstanceOf(SgdKernel);
  });
});
