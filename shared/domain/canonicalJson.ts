/**
 * JSON text that is the same for equal values whatever their key order: for comparing documents and
 * fingerprinting content. Keys with undefined values are left out, as JSON.stringify leaves them out;
 * `omitKeys` leaves out keys at any depth (a secret that is not content).
 */
export function canonicalJson(value: unknown, omitKeys: ReadonlySet<string> = NO_KEYS): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, omitKeys)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .filter((k) => record[k] !== undefined && !omitKeys.has(k))
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k], omitKeys)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const NO_KEYS: ReadonlySet<string> = new Set();
