/**
 * Serves the web console (the built `dist/web`, see docs/console.md) at `/`.
 *
 * - `/assets/*` are content-hashed by the build: cached for a year, `immutable`.
 * - `index.html` is `no-cache` (revalidated with its ETag), so a new build is picked up at once.
 * - Client routes (`/sessions/<id>`…) answer `index.html` too, but only to a GET that accepts
 *   `text/html`, and never under `/v1`: an API typo stays a JSON 404 from the app's not-found handler.
 * - Every HTML answer carries a Content-Security-Policy without inline scripts, so markup that slips
 *   into rendered content cannot run.
 * - Paths are decoded, normalised and checked to stay inside the root; dotfiles are never served.
 *
 * Files are read into memory on first use (and gzipped once when that helps); the cache is keyed by
 * path, size and modification time, so a rebuild under a running server is served fresh.
 */
import { existsSync, statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { noneMatchHits } from "./conditional.ts";

export interface ConsoleOptions {
  /** The folder holding the built console. @default `<package root>/dist/web` */
  root?: string;
}

/** No inline script or style, no plugins, no framing; the console talks only to its own origin. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const IMMUTABLE = "public, max-age=31536000, immutable";
const MAX_CACHED_BYTES = 8 * 1024 * 1024;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};
const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".map", ".svg", ".txt"]);

const MISSING_BUILD = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Frontdesk</title></head>
<body>
<h1>Frontdesk</h1>
<p>The web console is not built yet, so there is nothing to show here. Build it with
<code>npm run build</code> (which runs <code>vite build --config src/web/vite.config.ts</code>), then reload.</p>
<p>The HTTP API is at <code>/v1</code>; its description is at <a href="/openapi.json">/openapi.json</a>.</p>
</body>
</html>
`;

interface CachedFile {
  key: string;
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
}

/** The nearest folder above this module that holds a package.json: the package root, in src/ and dist/ alike. */
export function packageRootOf(from: string = fileURLToPath(import.meta.url)): string {
  let dir = path.dirname(from);
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.dirname(from);
    dir = parent;
  }
}

const acceptsHtml = (request: FastifyRequest): boolean => {
  const accept = request.headers.accept;
  return typeof accept === "string" && /\btext\/html\b|\*\/\*/.test(accept);
};

const acceptsGzip = (request: FastifyRequest): boolean => {
  const accept = request.headers["accept-encoding"];
  return typeof accept === "string" && /\bgzip\b/.test(accept);
};

const isApiPath = (urlPath: string): boolean => urlPath === "/v1" || urlPath.startsWith("/v1/");

/**
 * The file a URL path names inside `root`, or undefined when the path is malformed, leaves the
 * root, or names a dotfile. Never touches the disk.
 */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return undefined;
  const segments = decoded.split("/").filter((s) => s !== "");
  if (segments.some((s) => s.startsWith("."))) return undefined;
  const file = path.resolve(root, ...segments);
  if (file !== root && !file.startsWith(root + path.sep)) return undefined;
  return file;
}

export async function registerConsole(app: FastifyInstance, options: ConsoleOptions = {}): Promise<void> {
  const root = path.resolve(options.root ?? path.join(packageRootOf(), "dist", "web"));
  const cache = new Map<string, CachedFile>();

  /** Reads (or reuses) a regular file; undefined when there is none. */
  const load = async (file: string): Promise<CachedFile | undefined> => {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(file);
    } catch {
      return undefined;
    }
    if (!info.isFile()) return undefined;
    const key = `${info.size}-${Math.trunc(info.mtimeMs)}`;
    const cached = cache.get(file);
    if (cached && cached.key === key) return cached;
    const body = await readFile(file);
    const extension = path.extname(file).toLowerCase();
    const zipped = COMPRESSIBLE.has(extension) && body.length > 1024 ? gzipSync(body) : null;
    const entry: CachedFile = {
      key,
      body,
      gzip: zipped && zipped.length < body.length ? zipped : null,
      etag: `"${key}"`,
    };
    if (body.length <= MAX_CACHED_BYTES) cache.set(file, entry);
    return entry;
  };

  const send = (
    request: FastifyRequest,
    reply: FastifyReply,
    file: string,
    entry: CachedFile,
    cacheControl: string,
  ) => {
    const extension = path.extname(file).toLowerCase();
    const type = TYPES[extension] ?? "application/octet-stream";
    reply
      .header("content-type", type)
      .header("cache-control", cacheControl)
      .header("etag", entry.etag)
      .header("x-content-type-options", "nosniff")
      .header("vary", "accept-encoding");
    if (extension === ".html") {
      reply
        .header("content-security-policy", CONSOLE_CSP)
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY");
    }
    if (noneMatchHits(request.headers["if-none-match"], entry.etag)) return reply.code(304).send();
    const body = entry.gzip && acceptsGzip(request) ? entry.gzip : entry.body;
    if (body === entry.gzip) reply.header("content-encoding", "gzip");
    // A Buffer goes out as is: no serializer, no JSON.
    return reply.code(200).send(body);
  };

  const sendIndex = async (request: FastifyRequest, reply: FastifyReply) => {
    const file = path.join(root, "index.html");
    const entry = await load(file);
    if (!entry) {
      return reply
        .code(200)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("content-security-policy", CONSOLE_CSP)
        .send(MISSING_BUILD);
    }
    return send(request, reply, file, entry, "no-cache");
  };

  if (!existsSync(root) || !statSync(root).isDirectory()) {
    app.log.warn({ root }, "the web console is not built; GET / explains how to build it");
  }

  await app.register(async (scope) => {
    const hidden = { schema: { hide: true } };

    scope.get("/", hidden, sendIndex);

    scope.get("/*", hidden, async (request, reply) => {
      const urlPath = request.url.split("?")[0] ?? "/";
      if (isApiPath(urlPath)) {
        reply.callNotFound();
        return reply;
      }
      const file = resolveInside(root, urlPath);
      if (file !== undefined) {
        const entry = await load(file);
        if (entry) {
          const cacheControl = urlPath.startsWith("/assets/")
            ? IMMUTABLE
            : file.endsWith(".html")
              ? "no-cache"
              : "public, max-age=3600";
          return send(request, reply, file, entry, cacheControl);
        }
      }
      // Client routes of the single-page app; an asset that is gone stays a 404.
      if (!urlPath.startsWith("/assets/") && acceptsHtml(request)) return sendIndex(request, reply);
      reply.callNotFound();
      return reply;
    });
  });
}
