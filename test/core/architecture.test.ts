import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const src = join(root, "src");
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : /\.tsx?$/.test(path) ? [path] : [];
  });
interface Import {
  /** The imported file, relative to `src/`. */
  target: string;
  /** `import type …` / `export type … from`: erased at build time, nothing of the target runs. */
  typeOnly: boolean;
}

/** Every relative import or re-export of a file, type-only ones and dynamic import() included. */
const localImportsOf = (file: string): Import[] =>
  [
    ...readFileSync(file, "utf8").matchAll(
      /(?:(import|export)\s+(type\s+)?[^;]*?from|import)\s*\(?\s*["'](\.[^"']+)["']/g,
    ),
  ].map((m) => ({ target: relative(src, resolve(file, "..", m[3] as string)), typeOnly: Boolean(m[2]) }));

/** `file → target` for each relative import under `layer` that `allowed` refuses. */
function crossings(layer: string, allowed: (imported: Import, file: string) => boolean): string[] {
  return filesUnder(join(src, layer)).flatMap((file) =>
    localImportsOf(file)
      .filter((imported) => !allowed(imported, file))
      .map(({ target }) => `${relative(root, file)} → ${target}`),
  );
}

/** The import cycles among `files` (Tarjan's strongly connected components of more than one file). */
function importCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node) as number);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) cycles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

describe("architecture", () => {
  it("core imports nothing from stores, server, cli, agent or web", () => {
    expect(crossings("core", ({ target }) => target.startsWith("core/"))).toEqual([]);
  });

  it("stores import only core, the store contract and their own shared helpers", () => {
    expect(crossings("stores", ({ target }) => target.startsWith("core/") || target.startsWith("stores/"))).toEqual([]);
  });

  it("encryption wraps any store through the contract: it imports only core and its own folder", () => {
    expect(
      crossings("encryption", ({ target }) => target.startsWith("core/") || target.startsWith("encryption/")),
    ).toEqual([]);
  });

  it("a store's folder imports no other store's folder", () => {
    const folderOf = (path: string) => path.split("/").slice(0, -1).join("/");
    const ownOrShared = ({ target }: Import, file: string) =>
      folderOf(relative(src, file)) === "stores" ||
      target.split("/").length < 3 ||
      target.startsWith("stores/shared/") ||
      folderOf(target) === folderOf(relative(src, file)) ||
      !target.startsWith("stores/");
    expect(crossings("stores", ownOrShared)).toEqual([]);
  });

  it("the web console imports only its own files, the HTTP client, frontdesk/react and core's types", () => {
    // core is named for its types only: no server-side code ships to the browser.
    const allowed = ({ target, typeOnly }: Import) =>
      target.startsWith("web/") ||
      target.startsWith("client/") ||
      target === "react/index.ts" ||
      (target.startsWith("core/") && typeOnly);
    expect(crossings("web", allowed)).toEqual([]);
  });

  it("an adapter imports only Frontdesk's public entry points, the adapters' shared helpers and its own folder", () => {
    // An adapter is what a user could have written against the package: it never reaches into core.
    const publicEntries = new Set(["index.ts", "agent/index.ts", "client/index.ts", "server/index.ts"]);
    const folderOf = (path: string) => path.split("/").slice(0, -1).join("/");
    const allowed = ({ target }: Import, file: string) =>
      publicEntries.has(target) ||
      target.startsWith("adapters/shared/") ||
      target.startsWith(`${folderOf(relative(src, file))}/`);
    expect(crossings("adapters", allowed)).toEqual([]);
  });

  it("frontdesk/react imports only public entry points, and of the package root only types (it runs in browsers)", () => {
    // Like an adapter, the hooks are what a user could write against the package; the root pulls in
    // Node (stores, node:crypto), so only the browser-safe client entry may bring code along.
    const allowed = ({ target, typeOnly }: Import) =>
      target === "client/index.ts" || (target === "index.ts" && typeOnly) || target.startsWith("react/");
    expect(crossings("react", allowed)).toEqual([]);
  });

  it("the client entry reaches no Node module when loaded (frontdesk/react bundles it for browsers)", () => {
    const seen = new Set<string>();
    const nodeImports: string[] = [];
    const visit = (target: string): void => {
      if (seen.has(target)) return;
      seen.add(target);
      const file = join(src, target);
      const text = readFileSync(file, "utf8");
      // Static imports only: a dynamic import() runs only when called (node:http for Node's streams).
      for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s*["']([^"']+)["']/gm)) {
        const spec = m[1] as string;
        if (spec.startsWith("node:")) nodeImports.push(`${target} → ${spec}`);
        else if (spec.startsWith(".")) visit(relative(src, resolve(file, "..", spec)));
      }
    };
    visit("client/index.ts");
    expect(nodeImports).toEqual([]);
  });

  it("no module imports itself through a circle, type-only imports included", () => {
    const graph = new Map(
      filesUnder(src).map((file) => [relative(src, file), localImportsOf(file).map(({ target }) => target)]),
    );
    expect(importCycles(graph)).toEqual([]);
  });

  it("finds a circle when one is planted", () => {
    const planted = new Map([
      ["core/a.ts", ["core/b.ts"]],
      ["core/b.ts", ["core/c.ts"]],
      ["core/c.ts", ["core/a.ts"]],
      ["core/d.ts", ["core/a.ts"]],
    ]);
    expect(importCycles(planted)).toEqual([["core/a.ts", "core/b.ts", "core/c.ts"]]);
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
    const binders = filesUnder(src)
      .filter((file) => /\.listen\(/.test(readFileSync(file, "utf8")))
      .map((file) => relative(root, file));
    expect(binders.filter((file) => file !== "src/server/listen.ts" && !file.startsWith("src/web/"))).toEqual([]);
  });
});
