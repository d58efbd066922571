import { describe, expect, it } from 'vitest';
import { decodeContent, decodeInteraction, MAX_MESSAGE_BYTES } from '../../src/events/decode.ts';
import { validateInteraction } from '../../src/events/schema.ts';

const good = { type: 'click', userId: 'u1', itemId: 'i1', ts: 1_700_000_000_000 };
const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('interaction validation', () => {
  it('accepts a minimal event and keeps optional fields', () => {
    expect(validateInteraction(good)).toEqual({ ok: true, value: good });
    expect(validateInteraction({ ...good, itemId: 'i\u{1F600}' })).toEqual({ ok: true, value: { ...good, itemId: 'i\u{1F600}' } });
    const full = { ...good, eventId: 'e1', source: 'web', campaignId: 'c1', variant: 'b', extra: 1 };
    expect(validateInteraction(full)).toEqual({
      ok: true,
      value: { ...good, eventId: 'e1', source: 'web', campaignId: 'c1', variant: 'b' },
    });
  });

  it('reads ISO-8601 timestamps and integer ids', () => {
    const result = validateInteraction({ ...good, userId: 276, ts: '2019-11-09T10:00:00Z' });
    expect(result).toEqual({ ok: true, value: { ...good, userId: '276', ts: Date.UTC(2019, 10, 9, 10) } });
    expect(validateInteraction({ ...good, ts: '2019-11-09T19:00:00+09:00' })).toMatchObject({ value: { ts: Date.UTC(2019, 10, 9, 10) } });
    expect(validateInteraction({ ...good, ts: '2019-11-09' })).toMatchObject({ value: { ts: Date.UTC(2019, 10, 9) } });
    expect(validateInteraction({ ...good, ts: '2024-02-29' })).toMatchObject({ value: { ts: Date.UTC(2024, 1, 29) } });
    // RFC 3339 allows the separator and the zone in lower case.
    expect(validateInteraction({ ...good, ts: '2019-11-09t10:00:00z' })).toMatchObject({ value: { ts: Date.UTC(2019, 10, 9, 10) } });
    expect(validateInteraction({ ...good, ts: '2026-02-30T10:00:00Z' })).toMatchObject({ field: 'ts', reason: 'ts is not a valid date-time' });
  });

  it.each([
    [{ ...good, type: 'like' }, 'type'],
    [{ ...good, userId: undefined }, 'userId'],
    [{ ...good, userId: '' }, 'userId'],
    [{ ...good, userId: 'x'.repeat(257) }, 'userId'],
    [{ ...good, userId: -1 }, 'userId'],
    [{ ...good, itemId: null }, 'itemId'],
    [{ ...good, itemId: { id: 1 } }, 'itemId'],
    [{ ...good, ts: 'yesterday' }, 'ts'],
    [{ ...good, ts: '2026-02-30T10:00:00Z' }, 'ts'],
    [{ ...good, ts: '2026-02-29' }, 'ts'],
    [{ ...good, ts: '2016-12-31T23:59:60Z' }, 'ts'],
    // A time without a zone would be read in the server's zone.
    [{ ...good, ts: '2019-11-09T10:00:00' }, 'ts'],
    [{ ...good, userId: 12345678901234567890 }, 'userId'],
    // Lone surrogates have no UTF-8 form; Redis would store them as U+FFFD.
    [{ ...good, userId: 'u\uD800' }, 'userId'],
    [{ ...good, itemId: '\uDC00i' }, 'itemId'],
    [{ ...good, ts: -5 }, 'ts'],
    [{ ...good, ts: 1e20 }, 'ts'],
    [{ ...good, ts: Number.NaN }, 'ts'],
    [{ ...good, eventId: 7 }, 'eventId'],
    [[good], '$'],
    ['click', '$'],
  ])('rejects %j naming field %s', (input, field) => {
    const result = validateInteraction(input);
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ field });
    expect((result as { reason: string }).reason).toContain(field === '$' ? 'JSON object' : field);
  });
});

describe('message decoding', () => {
  it('decodes a JSON message', () => {
    expect(decodeInteraction(bytes(good))).toEqual({ ok: true, value: good });
  });

  it.each([
    [null, 'message is empty'],
    [Buffer.alloc(0), 'message is empty'],
    [bytes('{not json'), 'message is not valid JSON'],
    [Buffer.from([0xff, 0xfe, 0x7b]), 'message is not valid UTF-8'],
    [Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20), `message exceeds ${MAX_MESSAGE_BYTES} bytes`],
  ])('rejects a bad message with reason %#', (input, reason) => {
    expect(decodeInteraction(input)).toEqual({ ok: false, field: '$', reason });
  });

  it('validates content events', () => {
    const content = { itemId: 'n1', publishedAt: '2019-11-09T10:00:00Z', category: 'news', ttlSeconds: 3600 };
    expect(decodeContent(bytes(content))).toEqual({
      ok: true,
      value: { itemId: 'n1', publishedAt: Date.UTC(2019, 10, 9, 10), category: 'news', ttlSeconds: 3600 },
    });
    expect(decodeContent(bytes({ ...content, ttlSeconds: 0 }))).toMatchObject({ ok: false, field: 'ttlSeconds' });
    expect(decodeContent(bytes({ itemId: 'n1' }))).toMatchObject({ ok: false, field: 'publishedAt' });
  });
});
