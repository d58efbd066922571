import { MAX_MESSAGE_BYTES } from '../events/decode.ts';
import type { DeadLetter } from '../pipeline/types.ts';

/**
 * A key or value longer than this is cut in the dead-letter topic; header
 * `freshet-truncated` then holds the original lengths. Such a message was
 * rejected for its size alone, so its first bytes are enough to inspect it,
 * and the letter stays far below Kafka's record size limit (1 MiB by default),
 * which the original bytes plus the reason headers could exceed.
 */
export const DEAD_LETTER_MAX_FIELD_BYTES = MAX_MESSAGE_BYTES;

// Known gap: a dead-letter topic with max.message.bytes under ~64 KiB still refuses a cut letter,
// and its partition waits (retrying) until the topic's limit is raised.

/** Most bytes of letters per produce request, so one record batch never nears Kafka's limit. */
export const DEAD_LETTER_SEND_BYTES = 512 * 1024;

export interface DeadLetterRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

function cut(bytes: Buffer | null): Buffer | null {
  return bytes !== null && bytes.length > DEAD_LETTER_MAX_FIELD_BYTES
    ? bytes.subarray(0, DEAD_LETTER_MAX_FIELD_BYTES)
    : bytes;
}

function recordBytes(record: DeadLetterRecord): number {
  let bytes = (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const [name, value] of Object.entries(record.headers))
    bytes += name.length + Buffer.byteLength(value);
  return bytes;
}

/** The letter as a record: original key and bytes (cut when huge); reason and position in headers. */
export function deadLetterRecord(letter: DeadLetter): DeadLetterRecord {
  const headers: Record<string, string> = {
    'freshet-reason': letter.reason,
    'freshet-field': letter.field,
    'freshet-topic': letter.topic,
    'freshet-partition': String(letter.partition),
    'freshet-offset': letter.offset,
  };
  const key = cut(letter.key);
  const value = cut(letter.value);
  if (key !== letter.key || value !== letter.value) {
    headers['freshet-truncated'] =
      `key ${letter.key?.length ?? 0} bytes, value ${letter.value?.length ?? 0} bytes`;
  }
  return { key, value, headers };
}

/** The letters as records, in produce requests of at most DEAD_LETTER_SEND_BYTES (or one record). */
export function deadLetterSends(letters: readonly DeadLetter[]): DeadLetterRecord[][] {
  const sends: DeadLetterRecord[][] = [];
  let current: DeadLetterRecord[] = [];
  let bytes = 0;
  for (const letter of letters) {
    const record = deadLetterRecord(letter);
    const size = recordBytes(record);
    if (current.length > 0 && bytes + size > DEAD_LETTER_SEND_BYTES) {
      sends.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length > 0) sends.push(current);
  return sends;
}
