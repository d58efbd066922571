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
 * Vectors whose length is not a multiple of 4 are not taken: `create` gives undefined.
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
  private capacity = 0;
  /** The distinct negatives of the call in progress, by slot (from 2). */
  private readonly distinct: ItemRecord[] = [];
  /** Index in `distinct` of each negative, for long lists. */
  private readonly bySlot = new Map<ItemRecord, number>();

  static create(dimensions: number): SgdKernel | undefined {
    if (dimensions <= 0 || dimensions % 4 !== 0) return undefined;
    return new SgdKernel(dimensions);
  }

  private constructor(dimensions: number) {
    this.dims = dimensions;
    this.kernel = instantiateKernel<KernelExports>(SGD_KERNEL_WASM);
    this.reserve(32);
  }

  /**
   * pairStep(s, user, pos, negatives[i], weight, updateBias) for each i in order. A negative
   * may repeat, or be `pos` itself: each record is stepped in one place, as in sequence.
   */
  pairs(s: StepSizes, user: UserRecord, pos: ItemRecord, negatives: readonly ItemRecord[], weight: number, updateBias = true): void {
    const count = negatives.length;
    if (count === 0) return;
    // Slots for the user, the positive and every negative: more than needed when some repeat.
    this.reserve(count);
    const { slots, biases, order, distinct } = this;
    (slots[0] as Float32Array).set(user.vec);
    (slots[1] as Float32Array).set(pos.vec);
    biases[1] = pos.bias;
    distinct.length = 0;
    // Small lists (sampled negatives) are searched; long ones (a news impression's views) mapped.
    const bySlot = count > 32 ? this.bySlot : undefined;
    for (let i = 0; i < count; i++) {
      const negative = negatives[i] as ItemRecord;
      let slot = 1;
      if (negative !== pos) {
        const seen = bySlot === undefined ? distinct.indexOf(negative) : (bySlot.get(negative) ?? -1);
        slot = seen + 2;
        if (seen < 0) {
          slot = distinct.length + 2;
          bySlot?.set(negative, distinct.length);
          distinct.push(negative);
          (slots[slot] as Float32Array).set(negative.vec);
          biases[slot] = negative.bias;
        }
      }
      order[i] = slot;
    }
    bySlot?.clear();
    const { learningRate: lr, regularization: reg, biasLearningRate: blr, biasRegularization: breg } = s;
    this.kernel.pairs(0, this.dims, this.biasAt, this.orderAt, count, lr, reg, blr, breg, weight, updateBias ? 1 : 0);
    user.vec.set(slots[0] as Float32Array);
    pos.vec.set(slots[1] as Float32Array);
    pos.bias = biases[1] as number;
    for (let d = 0; d < distinct.length; d++) {
      const negative = distinct[d] as ItemRecord;
      negative.vec.set(slots[d + 2] as Float32Array);
      negative.bias = biases[d + 2] as number;
    }
    distinct.length = 0;
  }

  /** Room for `negatives` distinct negatives: the memory grows, and every view is made again. */
  private reserve(negatives: number): void {
    if (negatives <= this.capacity) return;
    const capacity = Math.max(negatives, 2 * this.capacity);
    const slotCount = capacity + 2;
    const vectorBytes = slotCount * this.dims * 4;
    this.biasAt = vectorBytes;
    this.orderAt = this.biasAt + slotCount * 8;
    const buffer = growMemory(this.kernel.memory, this.orderAt + capacity * 4);
    this.slots = Array.from({ length: slotCount }, (_, slot) => new Float32Array(buffer, slot * this.dims * 4, this.dims));
    this.biases = new Float64Array(buffer, this.biasAt, slotCount);
    this.order = new Int32Array(buffer, this.orderAt, capacity);
    this.capacity = capacity;
  }
}
