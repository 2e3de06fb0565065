import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { assertBuilt, CliProcess } from "./cli/processes.ts";

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

  it("the curl walk-through works as written against a real frontdesk serve", async () => {
    assertBuilt();
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const block = /```sh\n(export KEY=[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), "fd-readme-serve-"));
    const serve = new CliProcess(["serve", "--store", `sqlite:${join(dir, "db")}`, "--port", "0"]);
    try {
      const url = (await serve.waitFor(/listening on (http:\/\/\S+)/))[1] as string;
      const key = (await serve.waitFor(/shown once\): (fd_\S+)/, { stream: "stderr" }))[1] as string;
      const script = (block as string).replaceAll("http://127.0.0.1:7420", url).replace("fd_your_key_here", key);
      const outputs: string[] = [];
      for (const line of script.split("\n").filter((l) => l.startsWith("curl "))) {
        const run = spawnSync("bash", ["-c", `set -e\nexport KEY=${key}\n${line} --fail-with-body`], {
          encoding: "utf8",
        });
        expect(run.status, `${line}\n${run.stdout}${run.stderr}`).toBe(0);
        outputs.push(run.stdout);
      }
      const [created, appended, turn, messages, session] = outputs as [string, string, string, string, string];
      expect(JSON.parse(created)).toMatchObject({ id: "demo", title: "First conversation" });
      expect(JSON.parse(appended)).toMatchObject({ replayed: false });
      expect(turn).toContain("event: delta");
      expect(turn).toContain("event: tool_result");
      expect(turn).toMatch(/event: done\ndata: \{"status":"completed"/);
      expect(messages).toContain("14");
      expect(session).toMatch(/etag: "\d+"/i);
    } finally {
      serve.child.kill("SIGTERM");
      await serve.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
