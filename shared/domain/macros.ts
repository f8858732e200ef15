/**
 * Macros in criteria values: `{{site.city}}`, `{{ macro.OVERBUILD_SITE_CITY_NAME }}`. One model filter
 * criteria can then serve every site, each resolving the value in its own context.
 */

/** Names a criteria value may use. */
export const KNOWN_MACRO = /^(site\.(id|name|city|country)|macro\.[A-Za-z0-9_]{1,64})$/;

const MACRO = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Macro names used in a value, trimmed. */
export function findMacros(value: string): string[] {
  return [...value.matchAll(MACRO)].map((m) => m[1]);
}

/** Values for each macro name, for one site. */
export type MacroContext = Readonly<Record<string, string | undefined>>;

export interface SiteMacroSource {
  id: string;
  name: string;
  city?: string;
  country?: string;
  macros?: Readonly<Record<string, string>>;
}

export function siteMacros(site: SiteMacroSource): MacroContext {
  const context: Record<string, string | undefined> = {
    'site.id': site.id,
    'site.name': site.name,
    'site.city': site.city,
    'site.country': site.country,
  };
  for (const [name, value] of Object.entries(site.macros ?? {})) context[`macro.${name}`] = value;
  return context;
}

/**
 * Replaces macros with their values. Returns undefined when a macro has no value in the context: a
 * criterion whose value cannot be known must not match anyone (a site without a city must not match
 * every user whose city is empty).
 */
export function resolveMacros(value: string, context: MacroContext, encode: (v: string) => string = (v) => v): string | undefined {
  let missing = false;
  const resolved = value.replace(MACRO, (_all, name: string) => {
    const v = context[name];
    if (v === undefined || v === '') {
      missing = true;
      return '';
    }
    return encode(v);
  });
  return missing ? undefined : resolved;
}
