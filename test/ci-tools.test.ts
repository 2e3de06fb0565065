import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Under CI=true a test whose system tool is missing fails instead of skipping, so CI must install
 * every tool a test runs: this reads the tests for the programs they start and checks that .ci/
 * installs each one (bash, node and npm come with the machine and Node itself).
 */
const root = resolve(import.meta.dirname, "..");
const testFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === "node_modules" || name === "fixtures") return [];
    return statSync(path).isDirectory() ? testFiles(path) : /\.tsx?$/.test(name) ? [path] : [];
  });
const WITH_THE_MACHINE = new Set(["bash", "sh", "node", "npm", "npx"]);

function toolsTheTestsRun(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  const note = (tool: string, file: string) => used.set(tool, [...(used.get(tool) ?? []), relative(root, file)]);
  for (const file of testFiles(join(root, "test"))) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/\b(?:spawnSync|spawn|execFileSync|execFile|execSync|exec)\(\s*"([\w.-]+)"/g)) {
      if (!WITH_THE_MACHINE.has(match[1] as string)) note(match[1] as string, file);
    }
    // The README walk-through runs its curl lines through bash; the console runs Debian's chromium.
    if (/startsWith\("curl /.test(text)) note("curl", file);
    if (/executablePath/.test(text)) note("chromium", file);
  }
  return used;
}

describe("CI installs what the tests need", () => {
  it("every program a test starts is installed by .ci/tools or .ci/browser when missing", () => {
    const installers = readFileSync(join(root, ".ci/tools"), "utf8") + readFileSync(join(root, ".ci/browser"), "utf8");
    const used = toolsTheTestsRun();
    expect([...used.keys()].sort()).toEqual(expect.arrayContaining(["chromium", "curl", "tmux"]));
    const missing = [...used.entries()]
      .filter(([tool]) => !new RegExp(`\\[${tool}\\]=|apt-get install -y ${tool}\\b`).test(installers))
      .map(([tool, files]) => `${tool} (${files.join(", ")})`);
    expect(missing).toEqual([]);
  });

  it(".ci/run runs the installers before the tests", () => {
    const run = readFileSync(join(root, ".ci/run"), "utf8");
    expect(run.indexOf("bash .ci/tools")).toBeGreaterThan(-1);
    expect(run.indexOf("bash .ci/tools")).toBeLessThan(run.indexOf("npm test"));
    expect(readFileSync(join(root, ".ci/tools"), "utf8")).toContain("bash .ci/browser");
  });
});
