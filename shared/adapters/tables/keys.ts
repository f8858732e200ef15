/**
 * Table keys. PartitionKey and RowKey forbid `/ \ # ?` and control characters, are limited to 1 KiB, and
 * some characters (`%`, `'`, `+`) are trouble in the URLs of point operations. Ids therefore go through a
 * reversible encoding that keeps only `A-Z a-z 0-9 . _ - @` and writes every other UTF-8 byte as `!XX`.
 * `~` never appears in an encoded id, so it separates the parts of composite keys.
 */
import { StorageValidationError } from '../../ports/storage';

/** Azure's limit is 1 KiB; keys are UTF-16 in the service, so 512 characters stay within it. */
export const MAX_KEY_CHARS = 512;
export const KEY_SEPARATOR = '~';

const SAFE = /^[A-Za-z0-9._@-]$/;

export function encodeKey(id: string): string {
  if (id.length === 0) throw new StorageValidationError('an id must not be empty');
  let out = '';
  for (const ch of id) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `!${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length > MAX_KEY_CHARS) throw new StorageValidationError(`id is too long to be a table key (${out.length} encoded characters, at most ${MAX_KEY_CHARS})`);
  return out;
}

export function decodeKey(key: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '!') {
      bytes.push(parseInt(key.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(key.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A composite key from already-encoded or constant parts. */
export function joinKey(...parts: string[]): string {
  const key = parts.join(KEY_SEPARATOR);
  if (key.length > MAX_KEY_CHARS) throw new StorageValidationError(`table key too long (${key.length} characters)`);
  return key;
}

/** A stable shard in [0, shards) for spreading one customer's users over several partitions (FNV-1a). */
export function shardOf(id: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}
