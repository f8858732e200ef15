/**
 * ASP.NET-style route templates as the Functions host accepts them: literal segments, `{name}`,
 * optional `{name?}`, constrained `{name:int}` / `{name:alpha}` / `{name:guid}`, and a trailing catch-all
 * `{*rest}`. Literal segments match case-insensitively, as in the host.
 */
type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; name: string; optional: boolean; constraint?: string }
  | { kind: 'catchAll'; name: string };

const CONSTRAINTS: Record<string, RegExp> = {
  int: /^-?\d+$/,
  long: /^-?\d+$/,
  alpha: /^[A-Za-z]+$/,
  bool: /^(true|false)$/i,
  guid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
};

export class RouteTemplate {
  private readonly segments: Segment[];

  constructor(readonly template: string) {
    this.segments = template
      .split('/')
      .filter((s) => s.length > 0)
      .map((raw): Segment => {
        const m = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?\}$/.exec(raw);
        if (!m) {
          if (raw.includes('{') || raw.includes('}')) throw new Error(`Unsupported route segment "${raw}" in "${template}"`);
          return { kind: 'literal', text: raw.toLowerCase() };
        }
        if (m[1]) return { kind: 'catchAll', name: m[2] };
        if (m[3] && !CONSTRAINTS[m[3].toLowerCase()]) throw new Error(`Unknown route constraint "${m[3]}" in "${template}"`);
        return { kind: 'param', name: m[2], optional: Boolean(m[4]), constraint: m[3]?.toLowerCase() };
      });
  }

  /** Literal segments first, then fewer parameters: the host prefers the most specific route. */
  get specificity(): number {
    return this.segments.reduce((score, s) => score + (s.kind === 'literal' ? 100 : s.kind === 'param' ? 10 : 1), 0);
  }

  /** Returns decoded parameters, or undefined when the path does not match. */
  match(pathSegments: string[]): Record<string, string> | undefined {
    const params: Record<string, string> = {};
    let i = 0;
    for (const segment of this.segments) {
      const value = pathSegments[i];
      if (segment.kind === 'catchAll') {
        params[segment.name] = pathSegments.slice(i).map(safeDecode).join('/');
        return params;
      }
      if (value === undefined) {
        if (segment.kind === 'param' && segment.optional) continue;
        return undefined;
      }
      if (segment.kind === 'literal') {
        if (safeDecode(value).toLowerCase() !== segment.text) return undefined;
      } else {
        const decoded = safeDecode(value);
        if (segment.constraint && !CONSTRAINTS[segment.constraint].test(decoded)) return undefined;
        params[segment.name] = decoded;
      }
      i++;
    }
    return i === pathSegments.length ? params : undefined;
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function splitPath(pathname: string): string[] {
  return pathname.split('/').filter((s) => s.length > 0);
}
