import type { ItemRecord, UserRecord } from './records.ts';
import type { StepSizes } from './sgd.ts';
import { SGD_KERNEL_WASM } from './sgd-kernel-wasm.ts';
import { growMemory, instantiateKernel, type WasmMemory } from './wasm-module.ts';

interface KernelExports {
  memory: WasmMemory;
  pairs(
    vecs: number, dims: number, biases: number, order: number, count: number,
    lr: number, reg: number, blr: number, breg: number, weight: number, bias: number,
  ): void;
}

/**
 * The BPR steps of one user and one positive item against a list of negatives (pairStep of
 * sgd.ts, in that order), run by the SIMD kernel of sgd-kernel.wat: the vectors are copied into
 * its memory, stepped there in float32, and copied back. About twice the clicks per second of
 * the JavaScript loop with 20 negatives of 32 floats, copies included (measured in Node 24);
 * the JavaScript steps compute in float64, so the two differ in the last bits of float32.
 *
 * Vectors whose length is not a multiple of 4 are not taken: `create` gives undefined. NaN goes
 * through as in JavaScript; components past about 1e19 can overflow a float32 product into NaN
 * where the float64 steps stay finite (a model that far off has diverged either way).
 */
export class SgdKernel {
  private readonly dims: number;
  private readonly kernel: KernelExports;
  /** Slot 0: the user; 1: the positive item; then each distinct negative. */
  private slots: Float32Array[] = [];
  private biases = new Float64Array(0);
  private order = new Int32Array(0);
  private biasAt = 0;
  private orderAt = 0;
  private slotCapacity = 0;
  private orderCapacity = 0;
  /** The distinct negatives of the call in progress, by slot (from 2). */
  private readonly distinct: Array<ItemRecord | undefined> = [];
  /** The slot of each negative of the call in progress, in order. */
  private readonly slotOf: number[] = [];
  /** Index in `distinct` of each negative, for long lists. */
  private readonly bySlot = new Map<ItemRecord, number>();

  static create(dimensions: number): SgdKernel | undefined {
    if (dimensions <= 0 || dimensions % 4 !== 0) return undefined;
    return new SgdKernel(dimensions);
  }

  private constructor(dimensions: number) {
    this.dims = dimensions;
    this.kernel = instantiateKernel<KernelExports>(SGD_KERNEL_WASM);
    this.reserve(32, 32);
  }

  /**
   * pairStep(s, user, pos, negatives[i], weight, updateBias) for each i < count, in order. A
   * negative may repeat, or be `pos` itself: each record is stepped in one place, as in sequence.
   */
  pairs(
    s: StepSizes,
    user: UserRecord,
    pos: ItemRecord,
    negatives: ReadonlyArray<ItemRecord | undefined>,
    weight: number,
    updateBias = true,
    count = negatives.length,
  ): void {
    if (count === 0) return;
    // The scratch arrays are written by index and never truncated: emptying an array drops its
    // backing store, and refilling it then allocates at every click.
    const { distinct, slotOf } = this;
    let found = 0;
    // Each negative's slot. Small lists (sampled negatives) are searched; long ones (a news
    // impression's views) mapped.
    const bySlot = count > 32 ? this.bySlot : undefined;
    for (let i = 0; i < count; i++) {
      const negative = negatives[i] as ItemRecord;
      let slot = 1;
      if (negative !== pos) {
        let seen = -1;
        if (bySlot !== undefined) seen = bySlot.get(negative) ?? -1;
        else for (let d = 0; d < found && seen < 0; d++) if (distinct[d] === negative) seen = d;
        if (seen < 0) {
          seen = found++;
          bySlot?.set(negative, seen);
          distinct[seen] = negative;
        }
        slot = seen + 2;
      }
      slotOf[i] = slot;
    }
    bySlot?.clear();
    try {
      // Nothing is written before the memory is big enough: a growth refused leaves the kernel as it was.
      this.reserve(found, count);
      const { slots, biases, order } = this;
      (slots[0] as Float32Array).set(user.vec);
      (slots[1] as Float32Array).set(pos.vec);
      biases[1] = pos.bias;
      for (let d = 0; d < found; d++) {
        const negative = distinct[d] as ItemRecord;
        (slots[d + 2] as Float32Array).set(negative.vec);
        biases[d + 2] = negative.bias;
      }
      for (let i = 0; i < count; i++) order[i] = slotOf[i] as number;
      const { learningRate: lr, regularization: reg, biasLearningRate: blr, biasRegularization: breg } = s;
      this.kernel.pairs(0, this.dims, this.biasAt, this.orderAt, count, lr, reg, blr, breg, weight, updateBias ? 1 : 0);
      user.vec.set(slots[0] as Float32Array);
      pos.vec.set(slots[1] as Float32Array);
      pos.bias = biases[1] as number;
      for (let d = 0; d < found; d++) {
        const negative = distinct[d] as ItemRecord;
        negative.vec.set(slots[d + 2] as Float32Array);
        negative.bias = biases[d + 2] as number;
      }
    } finally {
      // Holds no record past the call.
      for (let d = 0; d < found; d++) distinct[d] = undefined;
    }
  }

  /**
   * Room for `negatives` distinct negatives and an order of `entries`. The memory grows (and
   * never shrinks: the longest list so far sets it), and every view is made again.
   */
  private reserve(negatives: number, entries: number): void {
    if (negatives <= this.slotCapacity && entries <= this.orderCapacity) return;
    const slotCapacity = negatives <= this.slotCapacity ? this.slotCapacity : Math.max(negatives, 2 * this.slotCapacity);
    const orderCapacity = entries <= this.orderCapacity ? this.orderCapacity : Math.max(entries, 2 * this.orderCapacity);
    const slotCount = slotCapacity + 2;
    const biasAt = slotCount * this.dims * 4;
    const orderAt = biasAt + slotCount * 8;
    // Throws (RangeError) when the memory cannot grow so far; nothing below has changed then.
    const buffer = growMemory(this.kernel.memory, orderAt + orderCapacity * 4);
    this.slots = Array.from({ length: slotCount }, (_, slot) => new Float32Array(buffer, slot * this.dims * 4, this.dims));
    this.biases = new Float64Array(buffer, biasAt, slotCount);
    this.order = new Int32Array(buffer, orderAt, orderCapacity);
    this.biasAt = biasAt;
    this.orderAt = orderAt;
    this.slotCapacity = slotCapacity;
    this.orderCapacity = orderCapacity;
  }
}
