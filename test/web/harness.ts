/**
 * Browser tests of the web console against a real `frontdesk serve` process and Debian's chromium
 * (installed by .ci/browser; never downloaded by playwright).
 *
 * When the running server does not serve the console at `/` yet (registerConsole not wired into
 * createApp), a small front server serves `dist/web` with `registerConsole` and passes /v1,
 * /healthz… through to the real process unchanged, streams included.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Fastify from "fastify";
import { type Browser, chromium, type Page } from "playwright-core";
import { registerConsole } from "../../src/server/console.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin/frontdesk.js");
export const CHROMIUM = process.env.FRONTDESK_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENSHOTS = path.join(ROOT, "docs/screenshots");

export function assertPrerequisites(): void {
  const missing: string[] = [];
  if (!existsSync(path.join(ROOT, "dist/cli/main.js"))) missing.push("dist/cli (run `npm run build`)");
  if (!existsSync(path.join(ROOT, "dist/web/index.html"))) {
    missing.push("dist/web (run `npx vite build --config src/web/vite.config.ts`)");
  }
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (run .ci/browser)`);
  if (missing.length > 0) throw new Error(`Browser tests need: ${missing.join("; ")}`);
}

export interface ServeProcess {
  /** Where the console is: the real server, or the front server passing the API through. */
  url: string;
  /** The real server. */
  apiUrl: string;
  adminKey: string;
  store: string;
  /** True when `frontdesk serve` itself served the console. */
  servedByServe: boolean;
  createKey(userId: string, admin?: boolean): string;
  /** Stops the server (SIGTERM: streams end with a resume hint) and starts it again on the same port and store. */
  restart(between?: () => Promise<void>): Promise<void>;
  /** Revokes every key of this user (through the CLI, on the server's store). */
  revokeKeysOf(userId: string): void;
  stop(): Promise<void>;
}

/** Starts `frontdesk serve` on a fresh SQLite store and port 0. */
export async function startServe(options: { config?: object } = {}): Promise<ServeProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), "frontdesk-web-"));
  const store = `sqlite:${path.join(dir, "db")}`;
  const args = [BIN, "serve", "--store", store];
  if (options.config) {
    const file = path.join(dir, "frontdesk.config.json");
    writeFileSync(file, JSON.stringify(options.config));
    args.push("--config", file);
  }
  const launch = (portArgs: string[]) =>
    spawn(process.execPath, [...args, ...portArgs], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", FRONTDESK_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
  let child = launch(["--port", "0"]);
  const { url: apiUrl, key } = await readStartup(child, true);
  const adminKey = key!;
  const stopChild = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };

  let front: Server | undefined;
  let url = apiUrl;
  const home = await fetch(`${apiUrl}/`, { headers: { accept: "text/html" } });
  const servedByServe = (await home.text()).includes('id="root"');
  if (!servedByServe) {
    front = await startFront(apiUrl);
    url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  }

  return {
    url,
    apiUrl,
    adminKey,
    store,
    servedByServe,
    createKey(userId, admin = false) {
      const result = spawnSync(
        process.execPath,
        [BIN, "keys", "create", "--store", store, "--user", userId, ...(admin ? ["--admin"] : [])],
        { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } },
      );
      if (result.status !== 0) throw new Error(`keys create failed: ${result.stderr}`);
      return result.stdout.trim();
    },
    async restart(between) {
      await stopChild();
      await between?.();
      child = launch(["--port", new URL(apiUrl).port]);
      await readStartup(child, false);
    },
    revokeKeysOf(userId) {
      const listed = spawnSync(process.execPath, [BIN, "keys", "list", "--store", store, "--json"], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "" },
      });
      for (const line of listed.stdout.split("\n").filter(Boolean)) {
        const record = JSON.parse(line) as { id: string; userId: string };
        if (record.userId !== userId) continue;
        const revoked = spawnSync(process.execPath, [BIN, "keys", "revoke", "--store", store, record.id], {
          encoding: "utf8",
          env: { PATH: process.env.PATH ?? "" },
        });
        if (revoked.status !== 0) throw new Error(`keys revoke failed: ${revoked.stderr}`);
      }
    },
    async stop() {
      front?.closeAllConnections();
      if (front) await new Promise<void>((resolve) => front?.close(() => resolve()));
      await stopChild();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits for `listening on …` (and, on a fresh store, the admin key printed once on stderr). */
function readStartup(child: ChildProcess, withKey: boolean): Promise<{ url: string; key: string | undefined }> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
    const check = () => {
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      const key = /created admin API key \(shown once\): (\S+)/.exec(stderr)?.[1];
      if (url && (key || !withKey)) {
        clearTimeout(timer);
        resolve({ url, key });
      }
    };
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      check();
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      check();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before it was ready: ${stderr}`));
    });
  });
}

const PASSED_THROUGH = /^\/(v1(\/|$)|healthz|readyz|metrics|openapi\.json)/;

/** Console from dist/web through registerConsole; the API passed through byte for byte. */
export async function startFront(apiUrl: string): Promise<Server> {
  const app = Fastify({ logger: false });
  await registerConsole(app, {});
  await app.ready();
  const upstream = new URL(apiUrl);
  const server = createServer((req, res) => {
    if (!PASSED_THROUGH.test(req.url ?? "")) {
      app.routing(req, res);
      return;
    }
    const proxied = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    proxied.on("error", () => res.destroy());
    res.on("close", () => proxied.destroy());
    req.pipe(proxied);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
  });
}

/** The HTTP API, as another client would use it. */
export function apiClient(baseUrl: string, key: string) {
  return async <T = unknown>(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T; headers: Headers }> => {
    const response = await fetch(`${baseUrl}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
  };
}

/** Signs in through the form, as a person would. */
export async function signInAs(page: Page, baseUrl: string, key: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Sessions", level: 1 }).waitFor();
}
