import { hasClickedItems, USER_CLICKED_FORMAT, USER_CLICKED_HEADER_BYTES, userBytes } from '../model/records.ts';

/** Bytes of an entry before its id: the click time (float64) and the id's length (uint16). */
const ENTRY_HEAD = 10;

/**
 * Entries past the cap a list may hold before it is cut back to the cap (commit.lua's SLACK):
 * cutting means walking the list, which a list at its cap would otherwise cost every batch.
 */
export function clickedSlack(clickedMax: number): number {
  return Math.max(16, Math.floor(clickedMax / 8));
}

interface Entry {
  ts: number;
  /** The id's bytes. */
  id: Buffer;
}

/** True when entry a (time, id) ranks before b: the later click, or on a tie the higher id by its bytes. */
function before(a: Entry, b: Entry): boolean {
  return a.ts !== b.ts ? a.ts > b.ts : Buffer.compare(a.id, b.id) > 0;
}

/** The entries of an encoded list, or undefined when it does not parse exactly. */
function parse(list: Buffer): Entry[] | undefined {
  const out: Entry[] = [];
  let at = 0;
  while (at < list.length) {
    if (at + ENTRY_HEAD > list.length) return undefined;
    const length = list.readUInt16LE(at + 8);
    const end = at + ENTRY_HEAD + length;
    if (end > list.length) return undefined;
    out.push({ ts: list.readDoubleLE(at), id: list.subarray(at + ENTRY_HEAD, end) });
    at = end;
  }
  return out;
}

function encode(entries: readonly Entry[]): Buffer {
  let bytes = 0;
  for (const e of entries) bytes += ENTRY_HEAD + e.id.length;
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const e of entries) {
    at = out.writeDoubleLE(e.ts, at);
    at = out.writeUInt16LE(e.id.length, at);
    at += e.id.copy(out, at);
  }
  return out;
}

/**
 * What follows a user's record in its stored value once a batch's clicks are merged in: the
 * header (format, dimension, count, bytes) and the entries. The same rule, byte for byte, as
 * `merged` in src/state/commit.lua, which applies it when the stored value is no longer the one
 * the batch read:
 *
 * - an item clicked again leaves its place and takes the later of its two times;
 * - the batch's entries (newest first, at most the cap, as packed) go in front when they are all
 *   newer than the list's first, else the whole list is sorted again (late clicks);
 * - a list longer than the cap plus the slack is cut back to the cap.
 *
 * `stored` is the stored value (null: none). Undefined when the script must merge instead: a
 * value of an earlier layout (its items live in a key of their own) or one that does not parse.
 */
export function mergeClicked(
  stored: Buffer | null,
  added: Buffer,
  addedCount: number,
  dimensions: number,
  clickedMax: number,
): Buffer | undefined {
  const head = userBytes(dimensions);
  let count = 0;
  let list: Buffer = Buffer.alloc(0);
  if (stored !== null) {
    if (!hasClickedItems(stored, dimensions)) return undefined;
    count = stored.readUInt32LE(head + 3);
    list = stored.subarray(head + USER_CLICKED_HEADER_BYTES);
  }
  const prepended = prepend(list, count, added, addedCount, clickedMax);
  if (prepended !== null) return prepended && withHeader(prepended.parts, prepended.count, dimensions);
  const merged = mergeLists(list, count, added, addedCount, clickedMax);
  return merged && withHeader([merged.list], merged.count, dimensions);
}

function withHeader(parts: readonly Buffer[], count: number, dimensions: number): Buffer {
  let bytes = 0;
  for (const part of parts) bytes += part.length;
  const out = Buffer.allocUnsafe(USER_CLICKED_HEADER_BYTES + bytes);
  out[0] = USER_CLICKED_FORMAT;
  out.writeUInt16LE(dimensions, 1);
  out.writeUInt32LE(count, 3);
  out.writeUInt32LE(bytes, 7);
  let at = USER_CLICKED_HEADER_BYTES;
  for (const part of parts) at += part.copy(out, at);
  return out;
}

/**
 * The common cases without reading the list entry by entry: nothing to merge, no list yet, or
 * a batch whose items are all new to the list and newer than its first entry (then the batch's
 * entries go in front). Null when the full merge is needed; undefined when the script must
 * merge. Whether an item is in the list is told as the script tells it: a search of the list
 * for its length and id; a match that is no entry (the bytes span two) only costs the full merge.
 */
function prepend(
  list: Buffer,
  count: number,
  added: Buffer,
  addedCount: number,
  clickedMax: number,
): { parts: Buffer[]; count: number } | undefined | null {
  if (addedCount === 0) return { parts: [list], count };
  if (count === 0) return { parts: [added], count: addedCount };
  let oldest = -1;
  for (let at = 0; at < added.length; ) {
    if (at + ENTRY_HEAD > added.length) return undefined;
    const end = at + ENTRY_HEAD + added.readUInt16LE(at + 8);
    if (end > added.length) return undefined;
    if (list.indexOf(added.subarray(at + 8, end), 8) >= 0) return null;
    oldest = at;
    at = end;
  }
  // The list's first entry; one that does not parse is left to the script.
  if (list.length < ENTRY_HEAD || list.length < ENTRY_HEAD + list.readUInt16LE(8)) return undefined;
  const first = { ts: list.readDoubleLE(0), id: list.subarray(ENTRY_HEAD, ENTRY_HEAD + list.readUInt16LE(8)) };
  const last = { ts: added.readDoubleLE(oldest), id: added.subarray(oldest + ENTRY_HEAD, oldest + ENTRY_HEAD + added.readUInt16LE(oldest + 8)) };
  if (!before(last, first)) return null;
  if (count + addedCount <= clickedMax + clickedSlack(clickedMax)) return { parts: [added, list], count: count + addedCount };
  const entries = parse(Buffer.concat([added, list]));
  return entries && { parts: [encode(entries.slice(0, clickedMax))], count: clickedMax };
}

function mergeLists(
  list: Buffer,
  count: number,
  added: Buffer,
  addedCount: number,
  clickedMax: number,
): { list: Buffer; count: number } | undefined {
  const stored = parse(list);
  const fresh = parse(added);
  // A count that disagrees with the entries is left to the script, which trusts the count.
  if (stored === undefined || fresh === undefined || stored.length !== count || fresh.length !== addedCount) return undefined;
  const byId = new Map<string, Entry>();
  for (const e of stored) byId.set(e.id.toString('latin1'), e);
  // A list holding an id twice was not written by this rule: the script's merge decides.
  if (byId.size !== stored.length) return undefined;
  const again: Entry[] = [];
  let ordered = true;
  for (const e of fresh) {
    const known = byId.get(e.id.toString('latin1'));
    if (known === undefined) continue;
    again.push(known);
    if (known.ts > e.ts) {
      e.ts = known.ts;
      ordered = false;
    }
  }
  let kept = stored;
  if (again.length > 0) {
    const gone = new Set(again);
    kept = stored.filter((e) => !gone.has(e));
    count -= again.length;
  }
  const oldest = fresh[fresh.length - 1] as Entry;
  if (ordered && count > 0) ordered = before(oldest, kept[0] as Entry);
  let entries: Entry[];
  if (ordered) {
    entries = [...fresh, ...kept];
    count += addedCount;
  } else {
    entries = [...kept, ...fresh].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    count = entries.length;
  }
  if (count > clickedMax + clickedSlack(clickedMax)) {
    entries = entries.slice(0, clickedMax);
    count = clickedMax;
  }
  return { list: encode(entries), count };
}
