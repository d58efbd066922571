import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/pipeline/types.ts';
import {
  DEAD_LETTER_MAX_FIELD_BYTES,
  DEAD_LETTER_SEND_BYTES,
  deadLetterRecord,
  deadLetterSends,
} from '../../src/sources/dead-letter-records.ts';

function letter(offset: number, valueBytes: number, keyBytes = 4): DeadLetter {
  return {
    topic: 'events',
    partition: 1,
    offset: String(offset),
    key: Buffer.alloc(keyBytes, 'k'),
    value: Buffer.alloc(valueBytes, 'v'),
    field: '$',
    reason: 'message exceeds 65536 bytes',
  };
}

describe('dead-letter records', () => {
  it('keep the original bytes and carry the reason and source position in headers', () => {
    const record = deadLetterRecord({
      ...letter(7, 0),
      value: Buffer.from('not json'),
      field: '$',
      reason: 'message is not valid JSON',
    });
    expect(record.value?.toString()).toBe('not json');
    expect(record.key?.toString()).toBe('kkkk');
    expect(record.headers).toEqual({
      'freshet-reason': 'message is not valid JSON',
      'freshet-field': '$',
      'freshet-topic': 'events',
      'freshet-partition': '1',
      'freshet-offset': '7',
    });
  });

  // Regression: a rejected message near Kafka's 1 MiB limit came back as a letter over the
  // limit (its bytes plus the headers); the DLQ send failed for ever and blocked the partition.
  it('should cut a message near the record size limit to 64 KiB and name its original size', () => {
    const record = deadLetterRecord(letter(3, 1_048_400, 70_000));
    expect(record.value?.length).toBe(DEAD_LETTER_MAX_FIELD_BYTES);
    expect(record.key?.length).toBe(DEAD_LETTER_MAX_FIELD_BYTES);
    expect(record.headers['freshet-truncated']).toBe('key 70000 bytes, value 1048400 bytes');
  });

  it('should group letters into produce requests under the byte bound, keeping their order', () => {
    const letters = Array.from({ length: 40 }, (_, i) => letter(i, 60_000));
    const sends = deadLetterSends(letters);
    expect(sends.map((s) => s.length)).toEqual([8, 8, 8, 8, 8]);
    for (const send of sends) {
      const bytes = send.reduce((sum, r) => sum + (r.value?.length ?? 0), 0);
      expect(bytes).toBeLessThanOrEqual(DEAD_LETTER_SEND_BYTES);
    }
    expect(sends.flat().map((r) => r.headers['freshet-offset'])).toEqual(
      letters.map((l) => l.offset),
    );
  });

  it('should send nothing for no letters', () => {
    expect(deadLetterSends([])).toEqual([]);
  });
});
