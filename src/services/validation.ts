// Input validation shared by every caller of the service layer (HTTP, control socket,
// command line): one zod schema per input, and its first problem as a ServiceError that
// names the field.
import { z } from 'zod';
import { isXmlChar } from '../xml/chars.js';
import { ServiceError } from './errors.js';

/**
 * Parses `value` with `schema`, or throws ServiceError('invalid') naming the field
 * (`rootField` when the value as a whole is wrong, e.g. "body" for an HTTP request body).
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, rootField?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
  const field = path.length > 0 ? path.map(String).join('.') : rootField;
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  throw new ServiceError('invalid', field ? `${field}: ${message}` : message, field);
}

/** True when every character may appear in XML 1.0 text (no control characters, no lone surrogates). */
export function isXmlText(text: string): boolean {
  for (const char of text) {
    if (!isXmlChar(char.codePointAt(0)!)) return false;
  }
  return true;
}

/** A string of at most `maxBytes` UTF-8 bytes that XML can carry (it ends up in a stanza). */
export function xmlText(maxBytes: number) {
  return z
    .string()
    .refine(isXmlText, 'contains characters XML cannot carry (control characters)')
    .refine((s) => Buffer.byteLength(s) <= maxBytes, `longer than ${maxBytes} bytes`)
    .describe(`at most ${maxBytes} bytes of UTF-8; no control characters but tab and newlines`);
}

/** A JID as written by the caller; the services parse and normalise it (RFC 7622: 3071 bytes at most). */
export const jidText = z.string().min(1, 'a JID is required').max(3071, 'longer than a JID can be');

/** Page size of every list: 1..10000, default 1000. */
export const pageLimit = z.coerce.number().int('must be an integer').min(1).max(10_000);
