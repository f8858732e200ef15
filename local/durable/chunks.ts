/**
 * Long strings in Table Storage rows: split below the 64 KiB property limit (UTF-16) into `Name`,
 * `Name_1`, ... with `Name_Parts`, and joined again on read.
 */
import type { TableEntity } from '@azure/data-tables';

const CHUNK_CHARS = 30_000;

export function writeChunked(row: TableEntity<Record<string, unknown>>, name: string, text: string | undefined): void {
  if (text === undefined) return;
  const parts = Math.max(1, Math.ceil(text.length / CHUNK_CHARS));
  for (let i = 0; i < parts; i++) row[i === 0 ? name : `${name}_${i}`] = text.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
  if (parts > 1) row[`${name}_Parts`] = parts;
}

export function readChunked(row: Record<string, unknown>, name: string): string | undefined {
  const first = row[name];
  if (typeof first !== 'string') return undefined;
  const parts = typeof row[`${name}_Parts`] === 'number' ? (row[`${name}_Parts`] as number) : 1;
  let text = first;
  for (let i = 1; i < parts; i++) text += String(row[`${name}_${i}`] ?? '');
  return text;
}
