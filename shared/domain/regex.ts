/**
 * Guard for operator-supplied regular expressions (model filter criteria "Regex Search").
 *
 * JavaScript's backtracking engine can take exponential time on patterns such as `(a+)+$`. No safe engine
 * is available, so a pattern is refused at save time when it has a shape known to run away, and inputs are
 * capped at evaluation. Together they keep the worst case polynomial in a small input.
 */

/** Longest pattern accepted. */
export const MAX_REGEX_PATTERN_LENGTH = 200;
/** Longest attribute value a regex is ever run against; longer values do not match. */
export const MAX_REGEX_INPUT_LENGTH = 256;
/**
 * Budget for backtracking, the product over every variable repetition of its weight: an unbounded one
 * (`*`, `+`, `{n,}`) weighs 64, a bounded one the number of lengths it can take (`?` 2, `{1,4}` 4); fixed
 * counts such as `\d{4}` weigh nothing. So at most two unbounded repetitions and nothing else variable
 * (`.*sales.*`), or one with a little more (`^\w+ \d{1,3}`), or bounded ones only.
 */
export const MAX_REPETITION_COST = 4096;
const UNBOUNDED_WEIGHT = 64;

export type RegexCheck = { ok: true; regex: RegExp } | { ok: false; reason: string };

interface GroupFrame {
  hasQuantifier: boolean;
  hasAlternation: boolean;
}

/** Validates a pattern and compiles it case-insensitive (Regex Search is not an "Exactly" condition). */
export function checkRegex(pattern: string): RegexCheck {
  if (pattern.length === 0) return { ok: false, reason: 'the regular expression is empty' };
  if (pattern.length > MAX_REGEX_PATTERN_LENGTH) {
    return { ok: false, reason: `the regular expression is longer than ${MAX_REGEX_PATTERN_LENGTH} characters` };
  }
  let regex: RegExp;
  try {
    regex = new RegExp(pattern, 'i');
  } catch (e) {
    return { ok: false, reason: `the regular expression is invalid: ${(e as Error).message}` };
  }
  const shape = checkShape(pattern);
  return shape ?? { ok: true, regex };
}

function checkShape(p: string): { ok: false; reason: string } | undefined {
  const stack: GroupFrame[] = [{ hasQuantifier: false, hasAlternation: false }];
  let cost = 1;
  let inClass = false;
  // What the next quantifier applies to: a closed group's frame, or an atom (undefined).
  let lastGroup: GroupFrame | undefined;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      const n = p[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(n) || n === 'k')) {
        return { ok: false, reason: 'backreferences are not allowed in a regular expression' };
      }
      i++;
      lastGroup = undefined;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      lastGroup = undefined;
      continue;
    }
    if (c === '(') {
      if (p.startsWith('(?<=', i) || p.startsWith('(?<!', i) || p.startsWith('(?=', i) || p.startsWith('(?!', i)) {
        return { ok: false, reason: 'lookaround assertions are not allowed in a regular expression' };
      }
      stack.push({ hasQuantifier: false, hasAlternation: false });
      lastGroup = undefined;
      // Skip a group's modifier, `(?:` or `(?<name>`, so its `?` is not read as a quantifier.
      if (p[i + 1] === '?') i = p[i + 2] === '<' ? Math.max(p.indexOf('>', i), i + 2) : i + 2;
      continue;
    }
    if (c === ')') {
      const closed = stack.pop() ?? { hasQuantifier: false, hasAlternation: false };
      const parent = stack[stack.length - 1];
      if (closed.hasQuantifier) parent.hasQuantifier = true;
      lastGroup = closed;
      continue;
    }
    if (c === '|') {
      stack[stack.length - 1].hasAlternation = true;
      lastGroup = undefined;
      continue;
    }
    const q = readQuantifier(p, i);
    if (q) {
      if (lastGroup?.hasQuantifier && q.max > 1) {
        return { ok: false, reason: 'nested quantifiers such as (a+)+ are not allowed in a regular expression' };
      }
      if (q.unbounded && lastGroup?.hasAlternation) {
        return { ok: false, reason: 'a repeated alternation such as (a|b)+ is not allowed in a regular expression' };
      }
      cost *= q.unbounded ? UNBOUNDED_WEIGHT : q.max - q.min + 1;
      if (cost > MAX_REPETITION_COST) {
        return { ok: false, reason: 'the regular expression has too many variable repetitions (*, +, ?, {n,m})' };
      }
      stack[stack.length - 1].hasQuantifier = true;
      i = q.end;
      if (p[i + 1] === '?') i++; // lazy marker
      lastGroup = undefined;
      continue;
    }
    lastGroup = undefined;
  }
  return undefined;
}

function readQuantifier(p: string, i: number): { unbounded: boolean; min: number; max: number; end: number } | undefined {
  const c = p[i];
  if (c === '*') return { unbounded: true, min: 0, max: Infinity, end: i };
  if (c === '+') return { unbounded: true, min: 1, max: Infinity, end: i };
  if (c === '?') return { unbounded: false, min: 0, max: 1, end: i };
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    return { unbounded: max === Infinity, min, max: Math.max(min, max), end: i + m[0].length - 1 };
  }
  return undefined;
}

/** Escapes a literal so it can be embedded in a pattern (used for macro values inside Regex Search). */
export function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
