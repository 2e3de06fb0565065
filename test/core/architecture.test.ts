import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith(".ts") ? [path] : [];
  });
const importsOf = (file: string): string[] =>
  [...readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1] as string);

describe("architecture", () => {
  it("core imports nothing from stores, server, cli, agent or web", () => {
    const offenders: string[] = [];
    for (const file of filesUnder(join(root, "src/core"))) {
      for (const specifier of importsOf(file)) {
        if (!specifier.startsWith(".")) continue;
        const target = relative(join(root, "src"), resolve(file, "..", specifier));
        if (!target.startsWith("core/")) offenders.push(`${relative(root, file)} → ${specifier}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("every folder under src/stores is registered and has a conformance harness", () => {
    const registry = readFileSync(join(root, "src/stores/registry.ts"), "utf8");
    const stores = readdirSync(join(root, "src/stores")).filter(
      (name) => statSync(join(root, "src/stores", name)).isDirectory() && name !== "shared",
    );
    expect(stores.length).toBeGreaterThan(0);
    for (const store of stores) {
      expect(registry, `${store} is registered`).toContain(`./${store}/index.ts`);
      const harness = readFileSync(join(root, "test/stores", `${store}.test.ts`), "utf8");
      expect(harness, `${store} harness runs the suite`).toContain("describeStoreConformance");
    }
  });

  it("only server/listen.ts binds a port", () => {
    const binders = filesUnder(join(root, "src"))
      .filter((file) => /\.listen\(/.test(readFileSync(file, "utf8")))
      .map((file) => relative(root, file));
    expect(binders.filter((file) => file !== "src/server/listen.ts" && !file.startsWith("src/web/"))).toEqual([]);
  });
});
