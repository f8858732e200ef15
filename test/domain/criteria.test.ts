import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkRegex,
  compileCriteria,
  criterionSchema,
  escapeRegex,
  matchesCriteria,
  MAX_REGEX_INPUT_LENGTH,
  modelFilterCriteriaSchema,
  siteMacros,
  type Condition,
  type Criterion,
  type Join,
} from '../../shared/domain';

const c = (attribute: string, condition: Condition, value: string, extra: Partial<Criterion> = {}): Criterion => ({
  not: false,
  join: 'AND',
  attribute,
  condition,
  value,
  ...extra,
});

const word = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() !== '' && !s.includes('{{'));

describe('criteria conditions', () => {
  it('Equals ignores case, Equals Exactly does not', () => {
    expect(matchesCriteria({ city: 'Chicago' }, [c('City', 'Equals', 'CHICAGO')])).toBe(true);
    expect(matchesCriteria({ city: 'Chicago' }, [c('City', 'Equals Exactly', 'CHICAGO')])).toBe(false);
    expect(matchesCriteria({ city: 'Chicago' }, [c('City', 'Equals Exactly', 'Chicago')])).toBe(true);
  });

  it('Contains ignores case, Contains Exactly does not', () => {
    expect(matchesCriteria({ department: 'Sales EMEA' }, [c('department', 'Contains', 'emea')])).toBe(true);
    expect(matchesCriteria({ department: 'Sales EMEA' }, [c('department', 'Contains Exactly', 'emea')])).toBe(false);
  });

  it('Regex Search finds the pattern anywhere, ignoring case', () => {
    expect(matchesCriteria({ officeLocation: 'Bldg 42 / Floor 3' }, [c('officeLocation', 'Regex Search', 'floor \\d')])).toBe(true);
    expect(matchesCriteria({ officeLocation: 'Bldg 42' }, [c('officeLocation', 'Regex Search', '^42')])).toBe(false);
  });

  it('a missing attribute never matches, with or without NOT', () => {
    for (const not of [false, true]) {
      for (const attrs of [{}, { city: null }, { city: '' }, { city: [] as string[] }]) {
        expect(matchesCriteria(attrs, [c('city', 'Equals', 'x', { not })])).toBe(false);
      }
    }
  });

  it('NOT negates a present attribute', () => {
    expect(matchesCriteria({ city: 'Paris' }, [c('city', 'Equals', 'Chicago', { not: true })])).toBe(true);
    expect(matchesCriteria({ city: 'Chicago' }, [c('city', 'Equals', 'Chicago', { not: true })])).toBe(false);
  });

  it('a list attribute matches when any element does; numbers and booleans compare as text', () => {
    expect(matchesCriteria({ assignedLicenses: ['sku-a', 'sku-b'] }, [c('assignedLicenses', 'Equals', 'SKU-B')])).toBe(true);
    expect(matchesCriteria({ accountEnabled: true }, [c('accountEnabled', 'Equals', 'true')])).toBe(true);
  });

  it('an empty criteria list matches nobody', () => {
    expect(compileCriteria([])({ city: 'x' })).toBe(false);
  });
});

describe('criteria joins fold left to right without precedence', () => {
  it('A OR B AND C means (A OR B) AND C', () => {
    const criteria = [c('a', 'Equals', 'y', { join: 'OR' }), c('b', 'Equals', 'y', { join: 'AND' }), c('c', 'Equals', 'y')];
    // With precedence, A OR (B AND C) would be true here.
    expect(matchesCriteria({ a: 'y', b: 'n', c: 'n' }, criteria)).toBe(false);
    expect(matchesCriteria({ a: 'y', b: 'n', c: 'y' }, criteria)).toBe(true);
  });

  it('property: evaluation equals the boolean left fold of each criterion', () => {
    const arb = fc.array(fc.record({ truth: fc.boolean(), not: fc.boolean(), join: fc.constantFrom<Join>('AND', 'OR') }), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(arb, (items) => {
        const attrs: Record<string, string> = {};
        const criteria = items.map((item, i) => {
          attrs[`a${i}`] = item.truth ? 'yes' : 'no';
          return c(`a${i}`, 'Equals', 'yes', { not: item.not, join: item.join });
        });
        let expected = items[0].truth !== items[0].not;
        for (let i = 1; i < items.length; i++) {
          const v = items[i].truth !== items[i].not;
          expected = items[i - 1].join === 'OR' ? expected || v : expected && v;
        }
        expect(matchesCriteria(attrs, criteria)).toBe(expected);
      }),
    );
  });

  it('property: exact conditions imply their case-insensitive forms, and case changes break only the exact ones', () => {
    fc.assert(
      fc.property(word, word, word, (prefix, needle, suffix) => {
        const value = `${prefix}${needle}${suffix}`;
        expect(matchesCriteria({ x: value }, [c('x', 'Contains Exactly', needle)])).toBe(true);
        expect(matchesCriteria({ x: value }, [c('x', 'Contains', needle.toUpperCase())])).toBe(true);
        expect(matchesCriteria({ x: value }, [c('x', 'Equals', value.toLowerCase())])).toBe(true);
        if (needle.toUpperCase() !== needle && !value.includes(needle.toUpperCase())) {
          expect(matchesCriteria({ x: value }, [c('x', 'Contains Exactly', needle.toUpperCase())])).toBe(false);
        }
      }),
    );
  });

  it('property: an escaped literal found by Regex Search is exactly a case-insensitive Contains', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), word, (value, needle) => {
        const regex = checkRegex(escapeRegex(needle));
        fc.pre(regex.ok);
        expect(matchesCriteria({ x: value }, [c('x', 'Regex Search', escapeRegex(needle))])).toBe(
          matchesCriteria({ x: value }, [c('x', 'Contains', needle)]),
        );
      }),
    );
  });

  it('property: NOT flips the result of a criterion on a present attribute', () => {
    fc.assert(
      fc.property(word, word, fc.constantFrom<Condition>('Equals', 'Equals Exactly', 'Contains', 'Contains Exactly'), (value, test, condition) => {
        const plain = matchesCriteria({ x: value }, [c('x', condition, test)]);
        expect(matchesCriteria({ x: value }, [c('x', condition, test, { not: true })])).toBe(!plain);
      }),
    );
  });
});

describe('macros', () => {
  const site = { id: 's1', name: 'Chicago HQ', city: 'Chicago', country: 'US', macros: { OVERBUILD_SITE_CITY_NAME: 'St. Louis (MO)' } };

  it('resolves the site city', () => {
    const rule = compileCriteria([c('city', 'Equals', '{{site.city}}')], siteMacros(site));
    expect(rule({ city: 'chicago' })).toBe(true);
    expect(rule({ city: 'Boston' })).toBe(false);
  });

  it('a macro without a value matches nobody, even users with an empty attribute', () => {
    const rule = compileCriteria([c('city', 'Equals', '{{site.city}}')], siteMacros({ id: 's2', name: 'No city' }));
    expect(rule({ city: '' })).toBe(false);
    expect(rule({ city: 'anything' })).toBe(false);
  });

  it('macro values are literal text inside a regex', () => {
    const rule = compileCriteria([c('city', 'Regex Search', '^{{ macro.OVERBUILD_SITE_CITY_NAME }}$')], siteMacros(site));
    expect(rule({ city: 'St. Louis (MO)' })).toBe(true);
    expect(rule({ city: 'StX Louis (MO)' })).toBe(false);
  });

  it('unknown macros are refused when saved', () => {
    const r = criterionSchema.safeParse({ attribute: 'city', condition: 'Equals', value: '{{site.town}}' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].message).toContain('unknown macro');
  });
});

describe('regex refusal', () => {
  const refused: Array<[string, RegExp]> = [
    ['(a+)+$', /nested quantifiers/],
    ['(\\w*)*x', /nested quantifiers/],
    ['((ab)+c)+', /nested quantifiers/],
    ['(a|aa)+$', /repeated alternation/],
    ['(x)\\1', /backreferences/],
    ['(?<n>x)\\k<n>', /backreferences/],
    ['(?=a)b', /lookaround/],
    ['a*b*c*d', /too many variable repetitions/],
    ['a?'.repeat(20) + 'a'.repeat(20), /too many variable repetitions/],
    ['a{1,10}'.repeat(9) + 'b', /too many variable repetitions/],
    ['x{1,50}y{2,}z+', /too many variable repetitions/],
    ['a'.repeat(201), /longer than 200/],
    ['(unclosed', /invalid/],
    ['', /empty/],
  ];
  it.each(refused)('refuses %s', (pattern, reason) => {
    const r = checkRegex(pattern);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it.each(['^Chi', 'floor \\d+', '(north|south) wing', '^[a-z]+@contoso\\.com$', '(\\d{3})?-\\d{4}', '.*sales.*', '[(+*)]+', '(?:ab)+c', '(?<area>\\d{3})-x', '\\d{3}-\\d{3}-\\d{4}'])('accepts %s', (pattern) => {
    expect(checkRegex(pattern).ok).toBe(true);
  });

  it('the schema refuses an unsafe regex with a clear message at save time', () => {
    const r = modelFilterCriteriaSchema.safeParse({
      id: 'm1',
      customerId: 'c1',
      name: 'bad',
      usage: 'Move User',
      criteria: [{ attribute: 'city', condition: 'Regex Search', value: '(a+)+$' }],
    });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual(['criteria', 0, 'value']);
    expect(r.error?.issues[0].message).toMatch(/nested quantifiers/);
  });

  it('values longer than the evaluation cap never match a regex', () => {
    const rule = compileCriteria([c('x', 'Regex Search', 'a')]);
    expect(rule({ x: 'a'.repeat(MAX_REGEX_INPUT_LENGTH) })).toBe(true);
    expect(rule({ x: 'a'.repeat(MAX_REGEX_INPUT_LENGTH + 1) })).toBe(false);
  });

  it('the worst accepted shapes finish on the longest input evaluated', () => {
    const input = 'a'.repeat(MAX_REGEX_INPUT_LENGTH - 1) + '!';
    for (const pattern of ['a*a*b', '.*.*x', '(ab)+a+b', 'a{1,10}a{1,10}a{1,10}a{1,10}b', '\\w+\\w+b']) {
      expect(compileCriteria([c('x', 'Regex Search', pattern)])({ x: input })).toBe(false);
    }
  });
});
