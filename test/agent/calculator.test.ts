import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluateExpression } from "../../src/agent/index.ts";
import { isFrontdeskError } from "../../src/core/errors.ts";

const root = resolve(import.meta.dirname, "../..");

describe("calculator", () => {
  it.each([
    ["2+3*4", 14],
    ["(2+3)*4", 20],
    ["2^3^2", 512],
    ["-2^2", -4],
    ["(-2)^2", 4],
    ["2^-1", 0.5],
    ["--3", 3],
    ["-(3+4)*2", -14],
    ["10 % 4", 2],
    ["7 / 2", 3.5],
    ["0.1 + 0.2", 0.3],
    [".5 * 4", 2],
    ["1e3 + 1", 1001],
    ["sqrt(16) + 2", 6],
    ["min(3, 1, 2) + max(4, 9)", 10],
    ["round(2.345, 2)", 2.35],
    ["round(2.5)", 3],
    ["abs(-7) + floor(2.7) + ceil(2.1)", 12],
    ["pow(2, 10)", 1024],
    ["log(1000)", 3],
    ["ln(e)", 1],
    ["2 * pi", 6.28318530718],
    ["5!", 120],
    ["3 × 4 ÷ 2", 6],
    ["2 ** 5", 32],
    ["  1 +\n 2  ", 3],
  ])("%s = %s", (expression, expected) => {
    expect(evaluateExpression(expression)).toBeCloseTo(expected, 9);
  });

  it.each([
    ["", /empty/],
    ["1 +", /Unexpected end of expression/],
    ["(1 + 2", /Expected "\)"/],
    ["1 / 0", /Division by zero/],
    ["5 % 0", /Division by zero/],
    ["sqrt(-1)", /not a finite number/],
    ["10 ^ 400", /not a finite number/],
    ["foo(1)", /Unknown function "foo"/],
    ["x + 1", /Unknown name "x"/],
    ["min()", /min\(\) takes 1 to 100 arguments/],
    ["sqrt(1, 2)", /sqrt\(\) takes 1 argument/],
    ["process.exit(1)", /Unexpected "\."/],
    ["constructor", /Unknown name "constructor"/],
    ["toString(1)", /Unknown function "tostring"/],
    ["1; 2", /Unexpected character ";"/],
    ["`1`", /Unexpected character/],
    ["2.5!", /whole number/],
    [`${"(".repeat(100)}1${")".repeat(100)}`, /nested too deeply/],
    ["1".repeat(1001), /longer than 1000/],
  ])("rejects %j", (expression, message) => {
    let thrown: unknown;
    try {
      evaluateExpression(expression);
    } catch (error) {
      thrown = error;
    }
    expect(isFrontdeskError(thrown, "invalid_request")).toBe(true);
    expect((thrown as Error).message).toMatch(message);
  });

  it("has no eval, Function or dynamic import in the agent's source", () => {
    const files = readdirSync(resolve(root, "src/agent"), { recursive: true, encoding: "utf8" }).filter((file) =>
      file.endsWith(".ts"),
    );
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const source = readFileSync(resolve(root, "src/agent", file), "utf8");
      expect(source, file).not.toMatch(/\beval\s*\(|new\s+Function\b|\bFunction\s*\(|\bimport\s*\(/);
    }
  });

  it("fuzz: any string either computes a finite number or fails with invalid_request, and runs no code", () => {
    const marker = "__frontdesk_calculator_pwned__";
    const hostile = fc.constantFrom(
      `globalThis.${marker}=1`,
      `(()=>{globalThis.${marker}=1})()`,
      "this.constructor.constructor('return process')()",
      "__proto__",
      "constructor.prototype",
      "1;require('fs')",
      "Math.max(1)",
      "eval('1')",
      "\u0000",
      "1e309",
      "9".repeat(400),
    );
    const tokens = fc.constantFrom(
      "1",
      "2.5",
      ".5",
      "1e3",
      "+",
      "-",
      "*",
      "/",
      "%",
      "^",
      "!",
      "(",
      ")",
      ",",
      " ",
      "sqrt",
      "min",
      "max",
      "round",
      "pi",
      "e",
      "x",
      "constructor",
    );
    const expressions = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.string({ unit: "grapheme", maxLength: 40 }),
      hostile,
      fc.array(tokens, { maxLength: 30 }).map((parts) => parts.join("")),
    );
    fc.assert(
      fc.property(expressions, (expression) => {
        try {
          const value = evaluateExpression(expression);
          return typeof value === "number" && Number.isFinite(value);
        } catch (error) {
          return isFrontdeskError(error, "invalid_request");
        } finally {
          expect((globalThis as Record<string, unknown>)[marker]).toBeUndefined();
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("fuzz: well-formed arithmetic agrees with a reference evaluation of the same tree", () => {
    type Tree = { n: number } | { op: "+" | "-" | "*"; l: Tree; r: Tree };
    const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
      t: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.integer({ min: -50, max: 50 }).map((n) => ({ n })),
        fc.record({ op: fc.constantFrom("+", "-", "*" as const), l: tie("t"), r: tie("t") }) as fc.Arbitrary<Tree>,
      ),
    })).t;
    const show = (t: Tree): string =>
      "n" in t ? (t.n < 0 ? `(${t.n})` : `${t.n}`) : `(${show(t.l)} ${t.op} ${show(t.r)})`;
    const value = (t: Tree): number =>
      "n" in t
        ? t.n
        : t.op === "+"
          ? value(t.l) + value(t.r)
          : t.op === "-"
            ? value(t.l) - value(t.r)
            : value(t.l) * value(t.r);
    fc.assert(
      fc.property(tree, (t) => {
        const text = show(t);
        if (text.split("(").length > 60) return true;
        expect(evaluateExpression(text)).toBeCloseTo(value(t), 6);
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
