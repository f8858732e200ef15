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
/** Most unbounded quantifiers (`*`, `+`, `{n,}`, `{n,m}` with m > 10) in one pattern. */
export const MAX_UNBOUNDED_QUANTIFIERS = 2;

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
  let unbounded = 0;
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
      if (q.unbounded) unbounded++;
      if (unbounded > MAX_UNBOUNDED_QUANTIFIERS) {
        return { ok: false, reason: `at most ${MAX_UNBOUNDED_QUANTIFIERS} unbounded repetitions (*, +, {n,}) are allowed in a regular expression` };
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

function readQuantifier(p: string, i: number): { unbounded: boolean; max: number; end: number } | undefined {
  const c = p[i];
  if (c === '*' || c === '+') return { unbounded: true, max: Infinity, end: i };
  if (c === '?') return { unbounded: false, max: 1, end: i };
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
    if (!m) return undefined;
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
    return { unbounded: max > 10, max, end: i + m[0].length - 1 };
  }
  return undefined;
}

/** Escapes a literal so it can be embedded in a pattern (used for macro values inside Regex Search). */
export function escapeRegex(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
