import { hash32, seededRandom } from './random.ts';

/** A user's factor vector and the event time it was last updated at. */
export interface UserRecord {
  ts: number;
  /** Interactions learned from so far. */
  count: number;
  vec: Float32Array;
}

/** An item's factor vector, bias and decayed counters, all as of event time `ts`. */
export interface ItemRecord {
  ts: number;
  bias: number;
  /** Views decayed with the trending half-life, as of `ts`. */
  views: number;
  /** Clicks decayed with the trending half-life, as of `ts`. */
  clicks: number;
  vec: Float32Array;
}

const USER_HEADER = 2;
const ITEM_HEADER = 4;

/** A starting vector that is the same in every process for the same id and seed. */
export function initialVector(id: string, dimensions: number, scale: number, seed: number): Float32Array {
  const random = seededRandom(hash32(id, seed));
  const vec = new Float32Array(dimensions);
  for (let f = 0; f < dimensions; f++) vec[f] = (random() - 0.5) * 2 * scale;
  return vec;
}

/** Bytes of a stored user record: ts and count as doubles, then the float32 vector. */
export function userBytes(dimensions: number): number {
  return USER_HEADER * 8 + dimensions * 4;
}

/** Bytes of a stored item record: ts, bias, views and clicks as doubles, then the float32 vector. */
export function itemBytes(dimensions: number): number {
  return ITEM_HEADER * 8 + dimensions * 4;
}

/** Bytes of an item record's header: ts, bias, views and clicks as doubles. */
export const ITEM_HEADER_BYTES = ITEM_HEADER * 8;

/** Writes a vector's floats at `offset`; the offset after them. */
function writeVector(buf: Buffer, offset: number, vec: Float32Array): number {
  buf.set(new Uint8Array(vec.buffer, vec.byteOffset, vec.byteLength), offset);
  return offset + vec.byteLength;
}

// A batch writes thousands of records: the header goes out field by field, with no array.

/** Writes a user record at `offset` (userBytes long); the offset after it. */
export function writeUser(buf: Buffer, offset: number, record: UserRecord): number {
  let at = buf.writeDoubleLE(record.ts, offset);
  at = buf.writeDoubleLE(record.count, at);
  return writeVector(buf, at, record.vec);
}

/** Writes an item record at `offset` (itemBytes long); the offset after it. */
export function writeItem(buf: Buffer, offset: number, record: ItemRecord): number {
  let at = buf.writeDoubleLE(record.ts, offset);
  at = buf.writeDoubleLE(record.bias, at);
  at = buf.writeDoubleLE(record.views, at);
  at = buf.writeDoubleLE(record.clicks, at);
  return writeVector(buf, at, record.vec);
}

function decode(buf: Buffer, headerLength: number, dimensions: number, trailer = 0): number[] | undefined {
  const length = headerLength * 8 + dimensions * 4;
  if (buf.length !== length && buf.length !== length + trailer) return undefined;
  const header: number[] = [];
  for (let i = 0; i < headerLength; i++) header.push(buf.readDoubleLE(i * 8));
  return header;
}

/**
 * Vectors decoded together share one allocation: an ArrayBuffer per vector costs the runtime an
 * off-heap allocation and a finalizer each, and a batch and an index refresh decode thousands.
 * Hand a slab only to records that live no longer than their neighbours (a batch's snapshot, a
 * refresh's changes): one kept vector keeps its whole chunk.
 */
export class VectorSlab {
  private readonly dimensions: number;
  private readonly perChunk: number;
  private chunk = new Float32Array(0);
  private used = 0;

  constructor(dimensions: number, perChunk = 256) {
    this.dimensions = dimensions;
    this.perChunk = perChunk;
  }

  /** A zeroed vector of its own region. */
  take(): Float32Array {
    const d = this.dimensions;
    if (this.used + d > this.chunk.length) {
      this.chunk = new Float32Array(d * this.perChunk);
      this.used = 0;
    }
    const vec = this.chunk.subarray(this.used, this.used + d);
    this.used += d;
    return vec;
  }
}

function vectorOf(buf: Buffer, headerLength: number, dimensions: number, slab?: VectorSlab): Float32Array {
  const start = buf.byteOffset + headerLength * 8;
  if (slab === undefined) return new Float32Array(buf.buffer.slice(start, start + dimensions * 4));
  const vec = slab.take();
  // A byte copy: the stored bytes need not be 4-byte aligned in the reply buffer.
  new Uint8Array(vec.buffer, vec.byteOffset, vec.byteLength).set(new Uint8Array(buf.buffer, start, dimensions * 4));
  return vec;
}

export function encodeUser(record: UserRecord): Buffer {
  const buf = Buffer.allocUnsafe(userBytes(record.vec.length));
  writeUser(buf, 0, record);
  return buf;
}

/**
 * Bytes a stored user record is followed by before the user's clicked items, in the Redis store
 * (src/state/commit.lua): a format byte (USER_CLICKED_FORMAT), the record's dimension (uint16),
 * the number of items (uint32) and their bytes (uint32). The dimension and the length tell a
 * record of another dimension apart, whatever its floats hold.
 */
export const USER_CLICKED_HEADER_BYTES = 11;
export const USER_CLICKED_FORMAT = 1;

/** True when a stored user value holds a record of this dimension followed by its clicked items. */
export function hasClickedItems(buf: Buffer, dimensions: number): boolean {
  const at = userBytes(dimensions);
  return (
    buf.length >= at + USER_CLICKED_HEADER_BYTES &&
    buf[at] === USER_CLICKED_FORMAT &&
    buf.readUInt16LE(at + 1) === dimensions &&
    buf.readUInt32LE(at + 7) === buf.length - at - USER_CLICKED_HEADER_BYTES
  );
}

/**
 * The clicked items that follow a stored user record, newest first, at most `max`; undefined
 * for a value without them (a bare record, or one of another dimension).
 */
export function clickedItems(buf: Buffer, dimensions: number, max = Number.POSITIVE_INFINITY): string[] | undefined {
  if (!hasClickedItems(buf, dimensions)) return undefined;
  const out: string[] = [];
  // Each: the click time (double), the id's length (uint16), the id.
  let at = userBytes(dimensions) + USER_CLICKED_HEADER_BYTES;
  while (at + 10 <= buf.length && out.length < max) {
    const length = buf.readUInt16LE(at + 8);
    out.push(buf.toString('utf8', at + 10, at + 10 + length));
    at += 10 + length;
  }
  return out;
}

/**
 * Decodes a stored user record, alone or followed by its clicked items; a record of another
 * dimension is treated as absent.
 */
export function decodeUser(buf: Buffer, dimensions: number, slab?: VectorSlab): UserRecord | undefined {
  const header = decode(hasClickedItems(buf, dimensions) ? buf.subarray(0, userBytes(dimensions)) : buf, USER_HEADER, dimensions);
  if (header === undefined) return undefined;
  return { ts: header[0] as number, count: header[1] as number, vec: vectorOf(buf, USER_HEADER, dimensions, slab) };
}

export function encodeItem(record: ItemRecord): Buffer {
  const buf = Buffer.allocUnsafe(itemBytes(record.vec.length));
  writeItem(buf, 0, record);
  return buf;
}

/**
 * Bytes a stored item record may carry after the record: a format byte (TOTALS_FORMAT), then
 * the item's exact view and click totals as doubles (the Redis store keeps them there, see
 * `itemTotals`). A record alone is 32 + 4 × dimensions bytes, a multiple of 4, so one with
 * totals never has the length of a bare record of any dimension.
 */
export const ITEM_TOTALS_BYTES = 17;
const TOTALS_FORMAT = 1;

/** Decodes a stored item record, with or without its totals; one of another dimension is treated as absent. */
export function decodeItem(buf: Buffer, dimensions: number, slab?: VectorSlab): ItemRecord | undefined {
  const header = decode(buf, ITEM_HEADER, dimensions, ITEM_TOTALS_BYTES);
  // Totals of another format: the commit script starts such an item again, and so does the read.
  if (header === undefined || (buf.length > itemBytes(dimensions) && buf[itemBytes(dimensions)] !== TOTALS_FORMAT)) return undefined;
  const [ts, bias, views, clicks] = header as [number, number, number, number];
  return { ts, bias, views, clicks, vec: vectorOf(buf, ITEM_HEADER, dimensions, slab) };
}

/** The exact view and click totals that follow a stored item record; undefined if it has none. */
export function itemTotals(buf: Buffer, dimensions: number): { views: number; clicks: number } | undefined {
  const at = itemBytes(dimensions);
  if (buf.length !== at + ITEM_TOTALS_BYTES || buf[at] !== TOTALS_FORMAT) return undefined;
  return { views: buf.readDoubleLE(at + 1), clicks: buf.readDoubleLE(at + 9) };
}
