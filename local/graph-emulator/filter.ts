/**
 * A small OData `$filter` subset: `eq`, `ne`, `in`, `startswith()`, `coll/any(x:x/prop eq v)` and
 * `coll/any(x:x eq v)`, joined by `and` / `or` (and binds tighter; no parentheses).
 */

type Value = string | number | boolean | null;
export type Predicate = (item: Record<string, unknown>) => boolean;

export interface CompiledFilter {
  predicate: Predicate;
  /** Set when the whole filter is `prop eq 'v'` (or `prop in (...)`) on a property the caller can index. */
  lookup?: { prop: string; values: string[] };
}

export class FilterError extends Error {}

/** Values an `in` may list (Microsoft Graph known issues, "Some limitations apply to query parameters"). */
export const MAX_IN_VALUES = 15;

function literal(raw: string, strings: string[]): Value {
  const t = raw.trim();
  // eslint-disable-next-line no-control-regex -- NUL marks masked string literals; it cannot occur in a URL query
  const m = /^\u0000(\d+)\u0000$/.exec(t);
  if (m) return strings[Number(m[1])];
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t === 'null') return null;
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(t)) return t;
  throw new FilterError(`Unsupported literal ${t}`);
}

const same = (a: unknown, b: Value): boolean =>
  typeof a === 'string' && typeof b === 'string' ? a.toLowerCase() === b.toLowerCase() : (a ?? null) === b;

function clause(text: string, strings: string[], props: Set<string> | null): { pred: Predicate; lookup?: { prop: string; values: string[] } } {
  const t = text.trim();
  const check = (p: string): string => {
    if (props && !props.has(p)) throw new FilterError(`Could not find a property named '${p}'.`);
    return p;
  };
  let m = /^startswith\(\s*([A-Za-z]+)\s*,\s*(.+)\)$/i.exec(t);
  if (m) {
    const p = check(m[1]);
    const v = literal(m[2], strings);
    if (typeof v !== 'string') throw new FilterError('startswith needs a string');
    const lower = v.toLowerCase();
    return { pred: (o) => typeof o[p] === 'string' && (o[p] as string).toLowerCase().startsWith(lower) };
  }
  m = /^([A-Za-z]+)\/any\(\s*(\w+)\s*:\s*\2(?:\/([A-Za-z]+))?\s+eq\s+(.+)\)$/.exec(t);
  if (m) {
    const p = check(m[1]);
    const sub = m[3];
    const v = literal(m[4], strings);
    return {
      pred: (o) => Array.isArray(o[p]) && (o[p] as unknown[]).some((e) => same(sub ? (e as Record<string, unknown> | null)?.[sub] : e, v)),
    };
  }
  m = /^([A-Za-z]+)\s+in\s+\((.*)\)$/.exec(t);
  if (m) {
    const p = check(m[1]);
    const values = m[2].split(',').map((x) => literal(x, strings));
    // Microsoft's known issues: `in` takes at most 15 expressions without advanced query parameters.
    if (values.length > MAX_IN_VALUES) throw new FilterError(`The 'in' operator takes at most ${MAX_IN_VALUES} values; ${values.length} were given.`);
    return { pred: (o) => values.some((v) => same(o[p], v)), lookup: values.every((v) => typeof v === 'string') ? { prop: p, values: values as string[] } : undefined };
  }
  m = /^([A-Za-z]+)\s+(eq|ne)\s+(.+)$/.exec(t);
  if (m) {
    const p = check(m[1]);
    const v = literal(m[3], strings);
    if (m[2] === 'ne') return { pred: (o) => !same(o[p], v) };
    return { pred: (o) => same(o[p], v), lookup: typeof v === 'string' ? { prop: p, values: [v] } : undefined };
  }
  throw new FilterError(`Unsupported filter clause: ${t}`);
}

export function compileFilter(expr: string, props: Set<string> | null = null): CompiledFilter {
  const strings: string[] = [];
  // Quoted strings out of the way first ('' escapes a quote), so "and"/"or" inside values do not split.
  const masked = expr.replace(/'((?:[^']|'')*)'/g, (_, s: string) => {
    strings.push(s.replace(/''/g, "'"));
    return `\u0000${strings.length - 1}\u0000`;
  });
  const ors = masked.split(/\s+or\s+/i).map((part) => part.split(/\s+and\s+/i).map((c) => clause(c, strings, props)));
  const predicate: Predicate = (o) => ors.some((ands) => ands.every((c) => c.pred(o)));
  // Indexable only as a disjunction of equalities on one property.
  const lookups = ors.every((ands) => ands.length === 1 && ands[0].lookup) ? ors.map((ands) => ands[0].lookup!) : null;
  const lookup = lookups && lookups.every((l) => l.prop === lookups[0].prop)
    ? { prop: lookups[0].prop, values: lookups.flatMap((l) => l.values) }
    : undefined;
  return { predicate, lookup };
}
