/** registerConsole (src/server/console.ts) with app.inject: caching, SPA fallback, CSP, traversal. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_CSP, packageRootOf, registerConsole, resolveInside } from "../../src/server/console.ts";

let root: string;
let app: FastifyInstance;
const BIG_JS = `console.log(${JSON.stringify("x".repeat(5000))});\n`;

async function appFor(dir: string): Promise<FastifyInstance> {
  const instance = Fastify({ logger: false });
  instance.setNotFoundHandler((_request, reply) => {
    void reply.code(404).send({ error: { code: "not_found", message: "No such route (method and path)" } });
  });
  instance.get("/v1/sessions", async () => ({ items: [] }));
  await registerConsole(instance, { root: dir });
  await instance.ready();
  return instance;
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), "frontdesk-console-"));
  mkdirSync(path.join(root, "assets"));
  writeFileSync(path.join(root, "index.html"), '<!doctype html><div id="root"></div>');
  writeFileSync(path.join(root, "assets", "index-Abc123.js"), BIG_JS);
  writeFileSync(path.join(root, "favicon.svg"), "<svg/>");
  writeFileSync(path.join(root, ".env"), "SECRET=1");
  writeFileSync(path.join(path.dirname(root), "outside.txt"), "outside");
  app = await appFor(root);
});

afterAll(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

describe("registerConsole", () => {
  it("serves index.html at / with no-cache and a CSP without inline scripts", async () => {
    const res = await app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.headers["content-security-policy"]).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain("unsafe-inline");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.body).toContain('id="root"');
  });

  it("revalidates index.html with its ETag", async () => {
    const first = await app.inject({ method: "GET", url: "/" });
    const again = await app.inject({
      method: "GET",
      url: "/",
      headers: { "if-none-match": String(first.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe("");
  });

  it("serves hashed assets as immutable for a year, gzipped when asked", async () => {
    const plain = await app.inject({ method: "GET", url: "/assets/index-Abc123.js" });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(plain.body).toBe(BIG_JS);
    const zipped = await app.inject({
      method: "GET",
      url: "/assets/index-Abc123.js",
      headers: { "accept-encoding": "gzip, br" },
    });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.rawPayload.length).toBeLessThan(BIG_JS.length / 10);
    expect(zipped.headers.vary).toBe("accept-encoding");
  });

  it("answers client routes with index.html, only for GETs that accept HTML", async () => {
    const page = await app.inject({
      method: "GET",
      url: "/sessions/abc?user=alice",
      headers: { accept: "text/html,application/xhtml+xml" },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('id="root"');
    expect(page.headers["content-security-policy"]).toBe(CONSOLE_CSP);

    const json = await app.inject({ method: "GET", url: "/sessions/abc", headers: { accept: "application/json" } });
    expect(json.statusCode).toBe(404);
    expect(json.json()).toEqual({ error: { code: "not_found", message: "No such route (method and path)" } });

    const post = await app.inject({ method: "POST", url: "/sessions/abc", headers: { accept: "text/html" } });
    expect(post.statusCode).toBe(404);
  });

  it("never answers the API's paths with the page", async () => {
    for (const url of ["/v1", "/v1/", "/v1/nope", "/v1/sessions/x/nope"]) {
      const res = await app.inject({ method: "GET", url, headers: { accept: "text/html" } });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code, url).toBe("not_found");
    }
    const api = await app.inject({ method: "GET", url: "/v1/sessions" });
    expect(api.json()).toEqual({ items: [] });
  });

  it("a missing asset is a 404, not the page", async () => {
    const res = await app.inject({ method: "GET", url: "/assets/gone-123.js", headers: { accept: "*/*" } });
    expect(res.statusCode).toBe(404);
  });

  it("never serves dotfiles or anything outside its folder", async () => {
    for (const url of [
      "/.env",
      "/%2e%2e/outside.txt",
      "/..%2foutside.txt",
      "/assets/..%2f..%2foutside.txt",
      "/%2e%2e%2f%2e%2e%2fetc/passwd",
      "/assets/%00.js",
      "/..\\outside.txt",
      "/%E0%A4%A",
    ]) {
      const res = await app.inject({ method: "GET", url, headers: { accept: "application/json" } });
      // 404, or 400 where the router itself refuses a malformed URL.
      expect([400, 404], url).toContain(res.statusCode);
      expect(res.body, url).not.toContain("SECRET");
      expect(res.body, url).not.toContain("outside");
    }
    expect(resolveInside(root, "/../outside.txt")).toBeUndefined();
    expect(resolveInside(root, "/%2e%2e/outside.txt")).toBeUndefined();
    expect(resolveInside(root, "/assets/index-Abc123.js")).toBe(path.join(root, "assets", "index-Abc123.js"));
  });

  it("explains how to build the console when dist/web is missing", async () => {
    const empty = await appFor(path.join(root, "not-built"));
    const res = await empty.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/html");
    expect(res.body).toContain("console is not built");
    expect(res.body).toContain("npm run build");
    const route = await empty.inject({ method: "GET", url: "/sessions/x", headers: { accept: "text/html" } });
    expect(route.body).toContain("console is not built");
    await empty.close();
  });

  it("finds dist/web from the package root", () => {
    expect(packageRootOf(path.resolve("src/server/console.ts"))).toBe(path.resolve("."));
  });
});
