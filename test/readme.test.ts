import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");

describe("README", () => {
  it("shows the library quick start exactly as examples/quickstart.mjs, and it runs as written", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const example = readFileSync(join(root, "examples/quickstart.mjs"), "utf8");
    expect(readme).toContain(example.trim());
    const cwd = mkdtempSync(join(tmpdir(), "fd-readme-"));
    try {
      const out = execFileSync(process.execPath, [join(root, "examples/quickstart.mjs")], { cwd, encoding: "utf8" });
      expect(out).toContain("{ turns: 3 }");
      expect(out).toContain("[ 'hotel_search' ]");
      expect(out).toContain("code: 'not_found'");
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("names the install and test commands", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    expect(readme).toMatch(/npm ci/);
    expect(readme).toMatch(/npm test/);
  });
});
