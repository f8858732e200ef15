/**
 * Just enough Bicep reading for the consistency checks: find `var <name> = <literal>` and turn the
 * literal into plain values. There is no Bicep compiler here, so anything that is not a literal
 * (a reference, a call, an interpolated string) comes back as an opaque expression.
 */

export interface BicepExpression {
  expression: string;
}

export type BicepValue =
  | string
  | number
  | boolean
  | null
  | BicepExpression
  | BicepValue[]
  | { [key: string]: BicepValue };

export function isExpression(value: BicepValue): value is BicepExpression {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1
    && typeof (value as { expression?: unknown }).expression === 'string';
}

export class BicepParseError extends Error {
  override name = 'BicepParseError';
}

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  fail(message: string): never {
    const line = this.text.slice(0, this.pos).split('\n').length;
    throw new BicepParseError(`${message} (line ${line})`);
  }

  /** Skips spaces, comments and, when asked, newlines (which separate entries in Bicep). */
  skip(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) this.pos++;
      else if (this.startsWith('//')) {
        while (this.pos < this.text.length && this.peek() !== '\n') this.pos++;
      } else if (this.startsWith('/*')) {
        const end = this.text.indexOf('*/', this.pos + 2);
        if (end < 0) this.fail('unterminated comment');
        this.pos = end + 2;
      } else return;
    }
  }

  /** Reads a single-quoted string; returns its raw source and whether it interpolates. */
  readString(): { raw: string; value: string; interpolated: boolean } {
    const start = this.pos;
    if (this.startsWith("'''")) {
      const end = this.text.indexOf("'''", this.pos + 3);
      if (end < 0) this.fail('unterminated multi-line string');
      this.pos = end + 3;
      const raw = this.text.slice(start, this.pos);
      return { raw, value: raw.slice(3, -3), interpolated: false };
    }
    this.pos++; // opening quote
    let value = '';
    let interpolated = false;
    for (;;) {
      const c = this.peek();
      if (c === '') this.fail('unterminated string');
      if (c === '\\') {
        const next = this.peek(1);
        const escapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", $: '$' };
        value += escapes[next] ?? next;
        this.pos += 2;
      } else if (c === "'") {
        this.pos++;
        break;
      } else if (c === '$' && this.peek(1) === '{') {
        interpolated = true;
        this.pos += 2;
        this.skipBalanced('}');
      } else {
        value += c;
        this.pos++;
      }
    }
    return { raw: this.text.slice(start, this.pos), value, interpolated };
  }

  /** Skips to just past `close`, minding nested brackets and strings (inside `${...}` or an expression). */
  skipBalanced(close: string): void {
    const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
    const stack = [close];
    while (stack.length > 0) {
      const c = this.peek();
      if (c === '') this.fail(`missing '${close}'`);
      if (c === "'") this.readString();
      else if (pairs[c]) {
        stack.push(pairs[c]);
        this.pos++;
      } else {
        if (c === stack[stack.length - 1]) stack.pop();
        this.pos++;
      }
    }
  }

  readValue(): BicepValue {
    this.skip(true);
    const c = this.peek();
    if (c === '{') return this.readObject();
    if (c === '[') return this.readArray();
    const start = this.pos;
    if (c === "'") {
      const s = this.readString();
      if (!this.atValueEnd()) return this.readExpressionFrom(start);
      return s.interpolated ? { expression: s.raw } : s.value;
    }
    const literal = /^(-?\d+(?:\.\d+)?|true|false|null)\b/.exec(this.text.slice(this.pos));
    if (literal) {
      this.pos += literal[0].length;
      if (this.atValueEnd()) {
        const word = literal[0];
        return word === 'true' ? true : word === 'false' ? false : word === 'null' ? null : Number(word);
      }
    }
    return this.readExpressionFrom(start);
  }

  /** True when only a separator, a closing bracket, a comment or the end of text follows. */
  private atValueEnd(): boolean {
    const save = this.pos;
    this.skip(false);
    const c = this.peek();
    const end = c === '' || c === '\n' || c === ',' || c === '}' || c === ']';
    this.pos = save;
    return end;
  }

  private readExpressionFrom(start: number): BicepValue {
    this.pos = start;
    const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
    while (this.pos < this.text.length) {
      const c = this.peek();
      if (c === "'") this.readString();
      else if (pairs[c]) {
        this.pos++;
        this.skipBalanced(pairs[c]);
      } else if (c === '\n' || c === ',' || c === '}' || c === ']' || this.startsWith('//')) break;
      else this.pos++;
    }
    const expression = this.text.slice(start, this.pos).trim();
    if (expression === '') this.fail('expected a value');
    return { expression };
  }

  private readObject(): { [key: string]: BicepValue } {
    this.pos++; // {
    const result: { [key: string]: BicepValue } = {};
    for (;;) {
      this.skip(true);
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === '}') {
        this.pos++;
        return result;
      }
      let key: string;
      if (this.peek() === "'") {
        const s = this.readString();
        // A computed name ('${identityId}') is kept as written.
        key = s.interpolated ? s.raw : s.value;
      } else {
        const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos));
        if (!id) this.fail(`expected a property name, found '${this.peek()}'`);
        key = id[0];
        this.pos += key.length;
      }
      this.skip(false);
      if (this.peek() !== ':') this.fail(`expected ':' after '${key}'`);
      this.pos++;
      if (Object.hasOwn(result, key)) this.fail(`property '${key}' is declared twice`);
      result[key] = this.readValue();
    }
  }

  private readArray(): BicepValue[] {
    const open = this.pos;
    this.pos++; // [
    const result: BicepValue[] = [];
    this.skip(true);
    // A `[for x in y: {...}]` loop is an expression, not a literal list.
    if (/^for\b/.test(this.text.slice(this.pos))) {
      this.pos = open + 1;
      this.skipBalanced(']');
      return [{ expression: this.text.slice(open, this.pos) }];
    }
    for (;;) {
      this.skip(true);
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === ']') {
        this.pos++;
        return result;
      }
      result.push(this.readValue());
    }
  }
}

/** Parses one Bicep literal (object, array, string, number, bool, null) from the start of `text`. */
export function parseBicepValue(text: string): BicepValue {
  return new Scanner(text).readValue();
}

/** Where `var <name> =` is declared in a Bicep file, or -1. */
function varDeclaration(bicep: string, name: string): number {
  const match = new RegExp(`^[ \\t]*var[ \\t]+${name}[ \\t]*=`, 'm').exec(bicep);
  return match ? match.index + match[0].length : -1;
}

/** The literal value of `var <name> = ...` in a Bicep file, or undefined when there is no such var. */
export function readBicepVar(bicep: string, name: string): BicepValue | undefined {
  const at = varDeclaration(bicep, name);
  if (at < 0) return undefined;
  return new Scanner(bicep.slice(at)).readValue();
}
