import { validateContent, validateInteraction, type Rejection, type Validated } from './schema.ts';

/** Messages larger than this are rejected before parsing. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(bytes: Uint8Array | null): { ok: true; value: unknown } | ({ ok: false } & Rejection) {
  if (bytes === null || bytes.length === 0) return { ok: false, field: '$', reason: 'message is empty' };
  if (bytes.length > MAX_MESSAGE_BYTES) {
    return { ok: false, field: '$', reason: `message exceeds ${MAX_MESSAGE_BYTES} bytes` };
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, field: '$', reason: 'message is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, field: '$', reason: 'message is not valid JSON' };
  }
}

export function decodeInteraction(bytes: Uint8Array | null) {
  const parsed = parseJson(bytes);
  return parsed.ok ? validateInteraction(parsed.value) : parsed;
}

export function decodeContent(bytes: Uint8Array | null): ReturnType<typeof validateContent> {
  const parsed = parseJson(bytes);
  return parsed.ok ? validateContent(parsed.value) : parsed;
}

export type { Validated };
