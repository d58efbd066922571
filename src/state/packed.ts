/**
 * Many values in one command argument. A batch writes thousands of records;
 * sent as one argument each, the client spends more time framing arguments
 * than the server spends storing them. The Redis commit script reads these
 * back with struct.unpack (src/state/commit.lua).
 */
/**
 * Lua for the scripts that read packed ids: `ids(blob)` returns them as a list. Scripts put it
 * before their own source.
 */
export const LUA_UNPACK_IDS = `local function ids(blob)
  local out, pos = {}, 1
  while pos <= #blob do
    local len = struct.unpack('<H', blob, pos)
    out[#out + 1] = string.sub(blob, pos + 2, pos + 1 + len)
    pos = pos + 2 + len
  end
  return out
end
`;

export class Packer {
  private buf: Buffer;
  private length = 0;

  /** `initialBytes`: the expected size; the buffer doubles when it falls short. */
  constructor(initialBytes = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }

  /** An id: its UTF-8 length in bytes as a little-endian uint16, then the bytes. */
  id(id: string): void {
    const bytes = Buffer.byteLength(id);
    if (bytes > 0xffff) throw new RangeError(`id of ${bytes} bytes is too long to pack`);
    this.reserve(2 + bytes);
    this.length = this.buf.writeUInt16LE(bytes, this.length);
    this.length += this.buf.write(id, this.length);
  }

  /** A little-endian uint32. */
  uint32(value: number): void {
    this.reserve(4);
    this.length = this.buf.writeUInt32LE(value, this.length);
  }

  /** A little-endian float64. */
  float64(value: number): void {
    this.reserve(8);
    this.length = this.buf.writeDoubleLE(value, this.length);
  }

  /** Bytes as they are. */
  bytes(bytes: Buffer): void {
    this.reserve(bytes.length);
    this.length += bytes.copy(this.buf, this.length);
  }

  /**
   * The bytes packed from `start` on, not copied: what is packed later does not change them (a
   * packer that grows copies its bytes to a new buffer and leaves the old one as it was).
   */
  view(start: number): Buffer {
    return this.buf.subarray(start, this.length);
  }

  /** `bytes` bytes written by `fill` at the given offset (it returns the offset after them). */
  put(bytes: number, fill: (buf: Buffer, offset: number) => number): void {
    this.reserve(bytes);
    this.length = fill(this.buf, this.length);
  }

  /** Bytes packed so far. */
  get size(): number {
    return this.length;
  }

  toBuffer(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }
}
