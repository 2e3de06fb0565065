import { FrontdeskError } from "../../core/errors.ts";

/**
 * A calculator built on a recursive-descent parser: it reads numbers, operators, parentheses,
 * constants and a fixed list of functions, and nothing else. There is no `eval`, no `Function`,
 * no property access: an expression can only ever compute a number.
 *
 * Grammar (lowest precedence first):
 *   expression := additive
 *   additive   := multiplicative (("+" | "-") multiplicative)*
 *   multiplicative := unary (("*" | "/" | "%") unary)*
 *   unary      := ("-" | "+") unary | power
 *   power      := postfix ("^" unary)?          right-associative; -2^2 = -(2^2)
 *   postfix    := primary "!"*
 *   primary    := number | constant | function "(" arguments ")" | "(" expression ")"
 */

export const MAX_EXPRESSION_LENGTH = 1000;
const MAX_DEPTH = 64;

type Fn = { arity: [number, number]; apply: (args: number[]) => number };

const FUNCTIONS: Readonly<Record<string, Fn>> = Object.freeze({
  sqrt: { arity: [1, 1], apply: ([x]) => Math.sqrt(x as number) },
  cbrt: { arity: [1, 1], apply: ([x]) => Math.cbrt(x as number) },
  abs: { arity: [1, 1], apply: ([x]) => Math.abs(x as number) },
  floor: { arity: [1, 1], apply: ([x]) => Math.floor(x as number) },
  ceil: { arity: [1, 1], apply: ([x]) => Math.ceil(x as number) },
  round: { arity: [1, 2], apply: ([x, digits]) => roundTo(x as number, digits ?? 0) },
  trunc: { arity: [1, 1], apply: ([x]) => Math.trunc(x as number) },
  min: { arity: [1, 100], apply: (args) => Math.min(...args) },
  max: { arity: [1, 100], apply: (args) => Math.max(...args) },
  pow: { arity: [2, 2], apply: ([x, y]) => (x as number) ** (y as number) },
  exp: { arity: [1, 1], apply: ([x]) => Math.exp(x as number) },
  ln: { arity: [1, 1], apply: ([x]) => Math.log(x as number) },
  log: {
    arity: [1, 2],
    apply: ([x, base]) => (base === undefined ? Math.log10(x as number) : Math.log(x as number) / Math.log(base)),
  },
  log2: { arity: [1, 1], apply: ([x]) => Math.log2(x as number) },
  sin: { arity: [1, 1], apply: ([x]) => Math.sin(x as number) },
  cos: { arity: [1, 1], apply: ([x]) => Math.cos(x as number) },
  tan: { arity: [1, 1], apply: ([x]) => Math.tan(x as number) },
  asin: { arity: [1, 1], apply: ([x]) => Math.asin(x as number) },
  acos: { arity: [1, 1], apply: ([x]) => Math.acos(x as number) },
  atan: { arity: [1, 1], apply: ([x]) => Math.atan(x as number) },
});

const CONSTANTS: Readonly<Record<string, number>> = Object.freeze({ pi: Math.PI, e: Math.E, tau: 2 * Math.PI });

export const CALCULATOR_FUNCTIONS = Object.keys(FUNCTIONS);
export const CALCULATOR_CONSTANTS = Object.keys(CONSTANTS);

function roundTo(x: number, digits: number): number {
  if (!Number.isInteger(digits) || digits < 0 || digits > 15) {
    throw calcError("round(x, digits) takes 0 to 15 whole digits");
  }
  const factor = 10 ** digits;
  return Math.round((x + Number.EPSILON * Math.sign(x)) * factor) / factor;
}

function factorial(n: number): number {
  if (!Number.isInteger(n) || n < 0) throw calcError("! needs a whole number ≥ 0");
  if (n > 170) return Number.POSITIVE_INFINITY;
  let out = 1;
  for (let i = 2; i <= n; i++) out *= i;
  return out;
}

const calcError = (message: string, position?: number): FrontdeskError =>
  new FrontdeskError("invalid_request", position === undefined ? message : `${message} (at ${position + 1})`, {
    details: position === undefined ? undefined : { position },
  });

type Token =
  | { kind: "number"; value: number; at: number }
  | { kind: "name"; value: string; at: number }
  | { kind: "op"; value: string; at: number }
  | { kind: "end"; at: number };

const OPERATORS = new Set(["+", "-", "*", "/", "%", "^", "(", ")", ",", "!"]);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") {
      i++;
      continue;
    }
    if ((ch >= "0" && ch <= "9") || ch === ".") {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i, i + 400));
      if (!match) throw calcError(`Unexpected "${ch}"`, i);
      const value = Number(match[0]);
      if (!Number.isFinite(value)) throw calcError("Number out of range", i);
      tokens.push({ kind: "number", value, at: i });
      i += match[0].length;
      continue;
    }
    if ((ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z")) {
      const match = /^[A-Za-z][A-Za-z0-9]*/.exec(source.slice(i, i + 64)) as RegExpExecArray;
      tokens.push({ kind: "name", value: match[0].toLowerCase(), at: i });
      i += match[0].length;
      continue;
    }
    // Friendly aliases people type: ×, ÷, ** (power), − (minus sign).
    if (ch === "*" && source[i + 1] === "*") {
      tokens.push({ kind: "op", value: "^", at: i });
      i += 2;
      continue;
    }
    const alias = ch === "×" ? "*" : ch === "÷" ? "/" : ch === "−" ? "-" : ch;
    if (OPERATORS.has(alias)) {
      tokens.push({ kind: "op", value: alias, at: i });
      i++;
      continue;
    }
    throw calcError(`Unexpected character ${JSON.stringify(ch)}`, i);
  }
  tokens.push({ kind: "end", at: source.length });
  return tokens;
}

class Parser {
  private index = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): number {
    const value = this.additive();
    const next = this.peek();
    if (next.kind !== "end") throw calcError(`Unexpected ${describe(next)}`, next.at);
    return value;
  }

  private peek(): Token {
    return this.tokens[this.index] as Token;
  }

  private take(): Token {
    return this.tokens[this.index++] as Token;
  }

  private isOp(value: string): boolean {
    const token = this.peek();
    return token.kind === "op" && token.value === value;
  }

  private expect(value: string): void {
    const token = this.take();
    if (token.kind !== "op" || token.value !== value) {
      throw calcError(`Expected "${value}" but found ${describe(token)}`, token.at);
    }
  }

  private nested<T>(at: number, fn: () => T): T {
    if (++this.depth > MAX_DEPTH) throw calcError("Expression is nested too deeply", at);
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  private additive(): number {
    let value = this.multiplicative();
    while (this.isOp("+") || this.isOp("-")) {
      const op = this.take();
      const right = this.multiplicative();
      value = op.kind === "op" && op.value === "+" ? value + right : value - right;
    }
    return value;
  }

  private multiplicative(): number {
    let value = this.unary();
    while (this.isOp("*") || this.isOp("/") || this.isOp("%")) {
      const op = this.take() as Token & { kind: "op" };
      const right = this.unary();
      if ((op.value === "/" || op.value === "%") && right === 0) throw calcError("Division by zero", op.at);
      value = op.value === "*" ? value * right : op.value === "/" ? value / right : value % right;
    }
    return value;
  }

  private unary(): number {
    const token = this.peek();
    if (this.isOp("-") || this.isOp("+")) {
      this.take();
      const operand = this.nested(token.at, () => this.unary());
      return token.kind === "op" && token.value === "-" ? -operand : operand;
    }
    return this.power();
  }

  private power(): number {
    const base = this.postfix();
    if (this.isOp("^")) {
      const op = this.take();
      const exponent = this.nested(op.at, () => this.unary());
      return base ** exponent;
    }
    return base;
  }

  private postfix(): number {
    let value = this.primary();
    while (this.isOp("!")) {
      this.take();
      value = factorial(value);
    }
    return value;
  }

  private primary(): number {
    const token = this.take();
    if (token.kind === "number") return token.value;
    if (token.kind === "op" && token.value === "(") {
      const value = this.nested(token.at, () => this.additive());
      this.expect(")");
      return value;
    }
    if (token.kind === "name") {
      if (this.isOp("(")) {
        const fn = Object.hasOwn(FUNCTIONS, token.value) ? FUNCTIONS[token.value] : undefined;
        if (!fn) throw calcError(`Unknown function "${token.value}"`, token.at);
        this.take();
        const args: number[] = [];
        if (!this.isOp(")")) {
          do {
            args.push(this.nested(token.at, () => this.additive()));
          } while (this.isOp(",") && this.take());
        }
        this.expect(")");
        const [least, most] = fn.arity;
        if (args.length < least || args.length > most) {
          const wanted = least === most ? `${least}` : `${least} to ${most}`;
          throw calcError(`${token.value}() takes ${wanted} argument${most === 1 ? "" : "s"}`, token.at);
        }
        return fn.apply(args);
      }
      if (Object.hasOwn(CONSTANTS, token.value)) return CONSTANTS[token.value] as number;
      throw calcError(`Unknown name "${token.value}"`, token.at);
    }
    throw calcError(`Unexpected ${describe(token)}`, token.at);
  }
}

const describe = (token: Token): string =>
  token.kind === "end"
    ? "end of expression"
    : token.kind === "number"
      ? `number ${token.value}`
      : `"${String(token.value)}"`;

/**
 * Evaluates an arithmetic expression. Throws `invalid_request` (a FrontdeskError) for anything
 * that is not one, and for results that are not finite numbers.
 */
export function evaluateExpression(expression: string): number {
  if (typeof expression !== "string") throw calcError("The expression must be text");
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw calcError(`The expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  if (expression.trim() === "") throw calcError("The expression is empty");
  const value = new Parser(tokenize(expression)).parse();
  if (!Number.isFinite(value)) throw calcError("The result is not a finite number");
  // Rounds away binary noise such as 0.1 + 0.2 = 0.30000000000000004.
  const tidy = Number.parseFloat(value.toPrecision(15));
  return Object.is(tidy, -0) ? 0 : tidy;
}
