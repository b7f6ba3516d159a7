/** A JOSE header or JWT claims segment: base64url of a UTF-8 JSON object (RFC 7515 section 7.1). */
import { decodeBase64urlText } from './base64url.ts';

/** The object a segment holds; undefined for bad base64url, bad UTF-8, bad JSON, or JSON that is not an object. */
export function parseJoseSegment(segment: string): Record<string, unknown> | undefined {
  const text = decodeBase64urlText(segment);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
