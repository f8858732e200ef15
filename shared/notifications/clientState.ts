/**
 * The clientState is the webhook's only authentication (Graph cannot send a function key): 32 random
 * bytes per subscription, handed to Graph once at creation. Only its SHA-256 is kept, and a presented value
 * is compared with it in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 43 characters of base64url: within Graph's 128. */
export function newClientState(): string {
  return randomBytes(32).toString('base64url');
}

export function clientStateHash(clientState: string): string {
  return createHash('sha256').update(clientState, 'utf8').digest('base64url');
}

export function clientStateMatches(presented: unknown, storedHash: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 128) return false;
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  const expected = Buffer.from(storedHash, 'base64url');
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}
