/**
 * The package as users install it: `npm pack`, the tarball installed into a scratch project, a
 * strict TypeScript program that uses every package export compiled there with the library checks
 * on (`skipLibCheck: false`, so every type the published declarations import must resolve in the
 * consumer), then run against SQLite.
 *
 * It loads the whole machine (npm, tsc), so vitest.config.ts runs it alone, after the other files.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt } from "../cli/processes.ts";

const root = resolve(import.meta.dirname, "../..");
const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;

/** Runs a command, and on failure fails with everything it printed (tsc prints its errors on stdout). */
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failed = error as { status: number | null; stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(" ")} exited ${failed.status}\n${failed.stdout ?? ""}${failed.stderr ?? ""}`,
    );
  }
}

/** The optional peers: the adapters' frameworks, and React for frontdesk/react. */
const ADAPTER_PEERS = [
  "@google/adk",
  "@langchain/core",
  "@langchain/langgraph-checkpoint",
  "@mastra/core",
  "@openai/agents-core",
  "react",
  "@types/react",
];

describe("the packed package in a fresh TypeScript project", () => {
  const scratch = mkdtempSync(join(tmpdir(), "fd-packed-"));
  const project = join(scratch, "consumer");

  beforeAll(() => {
    // The tarball holds dist/ as it is: `npm test` builds it first (pretest), and `prepare` is not
    // run again here so that packing does not rebuild dist/ under other tests' feet.
    assertBuilt();
    const packed = JSON.parse(
      run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", scratch], root),
    ) as { filename: string }[];
    const tarball = join(scratch, packed[0]?.filename ?? "");

    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: false,
          types: ["node"],
          outDir: "out",
        },
        files: ["index.ts"],
      }),
    );
    copyFileSync(join(root, "test/package/consumer/index.ts"), join(project, "index.ts"));
    copyFileSync(join(root, "test/package/consumer/adapters.ts"), join(project, "adapters.ts"));
    writeFileSync(
      join(project, "tsconfig.adapters.json"),
      JSON.stringify({
        extends: "./tsconfig.json",
        compilerOptions: { skipLibCheck: true, outDir: "out-adapters" },
        files: ["adapters.ts"],
      }),
    );

    // Install scripts are skipped so better-sqlite3 is not compiled from source (about two minutes);
    // the same version is pinned and the addon this checkout already built for this Node is reused.
    // Every other dependency resolves as it would for a user. The tool versions are this checkout's
    // so the warm npm cache serves them.
    const sqlite = versionOf("better-sqlite3");
    run(
      "npm",
      [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        tarball,
        `better-sqlite3@${sqlite}`,
        `@modelcontextprotocol/sdk@${versionOf("@modelcontextprotocol/sdk")}`,
        // The adapters' frameworks are optional peers: a user of an adapter installs its framework.
        ...ADAPTER_PEERS.map((name) => `${name}@${versionOf(name)}`),
        `typescript@${versionOf("typescript")}`,
        `@types/node@${versionOf("@types/node")}`,
      ],
      project,
    );
    const release = join(project, "node_modules/better-sqlite3/build/Release");
    mkdirSync(release, { recursive: true });
    copyFileSync(
      join(root, "node_modules/better-sqlite3/build/Release/better_sqlite3.node"),
      join(release, "better_sqlite3.node"),
    );
  }, 300_000);

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("compiles a strict program using every export, with skipLibCheck off, and it runs on SQLite", () => {
    const exports = Object.keys(
      (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, unknown> }).exports,
    );
    const source = ["index.ts", "adapters.ts"].map((file) => readFileSync(join(project, file), "utf8")).join("\n");
    const stores = ["memory", "sqlite", "fs", "redis", "postgres"];
    for (const entry of exports) {
      const names =
        entry === "./stores/*"
          ? stores.map((store) => `frontdesk/stores/${store}`)
          : [entry.replace(/^\./, "frontdesk")];
      for (const name of names) expect(source, `the consumer program imports ${name}`).toContain(`from "${name}"`);
    }

    run(process.execPath, [join(project, "node_modules/typescript/bin/tsc"), "-p", "."], project);

    const report = JSON.parse(run(process.execPath, ["out/index.js"], project)) as Record<string, unknown>;
    expect(report).toEqual({
      library: { turns: 1, messages: 1 },
      isolation: "not_found",
      agent: "2+3*4 = 14",
      client: { title: "Trip to Lisbon", turns: 1 },
      mcp: "Trip to Lisbon",
      stores: ["elsewhere", "elsewhere"],
      sharedFactories: ["function", "function"],
      testing: { harness: "sqlite in memory", conformance: "function", clock: Date.UTC(2026, 0, 1) },
      error: "not_found",
    });
  }, 120_000);

  it("compiles a strict program using every adapter with its framework installed, and it runs on SQLite", () => {
    run(process.execPath, [join(project, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.adapters.json"], project);
    const report = JSON.parse(run(process.execPath, ["out-adapters/adapters.js"], project)) as Record<string, unknown>;
    expect(report).toEqual({
      aiSdk: ["m1"],
      openaiAgents: 1,
      adk: "Alice",
      langgraph: "no checkpoint",
      mastra: "Mastra thread",
      sessions: ["agents-1", "chat-1", "thread-1"],
      react: { hooks: ["function", "function"], list: "loading" },
    });
  }, 120_000);
});
