/**
 * Evaluation of model filter criteria against a user's attributes.
 *
 * Semantics (documented choice; the source system does not state precedence):
 * - Criteria are folded strictly left to right with no precedence between AND and OR:
 *   `r = c0; r = r <join0> c1; r = r <join1> c2; ...` where `join_i` is criterion i's join to the next.
 *   So `A OR B AND C` means `(A OR B) AND C`. The last criterion's join is ignored.
 * - NOT negates a single criterion before it is joined.
 * - A missing attribute (absent, null, empty string or empty list) never satisfies a criterion, with or
 *   without NOT: a user whose city is unknown is not "NOT in Chicago", it is unknown.
 * - A macro without a value in the site's context likewise makes the criterion unsatisfiable.
 * - "Equals Exactly" and "Contains Exactly" are case-sensitive; Equals, Contains and Regex Search are not.
 * - Regex Search finds the pattern anywhere in the value; macro values inside it are literal text.
 * - A list attribute (e.g. licenses) satisfies a criterion when any element does.
 * - Attribute names are looked up exactly, then case-insensitively (`City` finds `city`).
 */
import { checkRegex, escapeRegex, MAX_REGEX_INPUT_LENGTH } from './regex';
import { resolveMacros, type MacroContext } from './macros';
import type { Criterion, Condition } from './schemas';

export type AttributeValue = string | number | boolean | null | undefined | readonly string[];
/** A user's attributes as synced from Microsoft, by attribute name. */
export type UserAttributes = Readonly<Record<string, AttributeValue>>;

/** A predicate over user attributes, compiled once per (criteria, site) pair. */
export type CompiledCriteria = (attributes: UserAttributes) => boolean;

type Test = (value: string) => boolean;

/** Compiles criteria for one site context. A regex that fails the safety check never matches. */
export function compileCriteria(criteria: readonly Criterion[], macros: MacroContext = {}): CompiledCriteria {
  const compiled = criteria.map((c) => ({ criterion: c, test: compileTest(c.condition, c.value, macros) }));
  return (attributes) => {
    let result = false;
    compiled.forEach(({ criterion, test }, i) => {
      const value = evaluateOne(attributes, criterion, test);
      result = i === 0 ? value : compiled[i - 1].criterion.join === 'OR' ? result || value : result && value;
    });
    return compiled.length > 0 && result;
  };
}

/** One-off evaluation; prefer `compileCriteria` when testing many users. */
export function matchesCriteria(attributes: UserAttributes, criteria: readonly Criterion[], macros: MacroContext = {}): boolean {
  return compileCriteria(criteria, macros)(attributes);
}

/** Attribute names the criteria read, lower-cased (used to tell whether a change can move a user). */
export function criteriaAttributes(criteria: readonly Criterion[]): Set<string> {
  return new Set(criteria.map((c) => c.attribute.toLowerCase()));
}

function evaluateOne(attributes: UserAttributes, criterion: Criterion, test: Test | undefined): boolean {
  if (!test) return false;
  const values = attributeValues(attributes, criterion.attribute);
  if (values.length === 0) return false;
  const hit = values.some(test);
  return criterion.not ? !hit : hit;
}

/** The attribute's values as strings; empty when the attribute is missing. */
export function attributeValues(attributes: UserAttributes, name: string): string[] {
  let raw: AttributeValue = attributes[name];
  if (raw === undefined) {
    const lower = name.toLowerCase();
    const key = Object.keys(attributes).find((k) => k.toLowerCase() === lower);
    raw = key === undefined ? undefined : attributes[key];
  }
  if (raw === undefined || raw === null) return [];
  const list = Array.isArray(raw) ? (raw as readonly string[]) : [String(raw)];
  return list.filter((v) => v !== '');
}

function compileTest(condition: Condition, rawValue: string, macros: MacroContext): Test | undefined {
  if (condition === 'Regex Search') {
    const pattern = resolveMacros(rawValue, macros, escapeRegex);
    if (pattern === undefined) return undefined;
    const check = checkRegex(pattern);
    if (!check.ok) return undefined;
    const regex = check.regex;
    return (v) => v.length <= MAX_REGEX_INPUT_LENGTH && regex.test(v);
  }
  const value = resolveMacros(rawValue, macros);
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  switch (condition) {
    case 'Equals':
      return (v) => v.toLowerCase() === lower;
    case 'Equals Exactly':
      return (v) => v === value;
    case 'Contains':
      return (v) => v.toLowerCase().includes(lower);
    case 'Contains Exactly':
      return (v) => v.includes(value);
  }
}
