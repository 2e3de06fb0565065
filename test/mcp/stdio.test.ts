import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/core/session-manager.ts";
import { openStore } from "../../src/stores/registry.ts";
import { call, resourceJson, scratch, structured } from "./helpers.ts";

const ENTRY = fileURLToPath(new URL("./fixtures/stdio-entry.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin/frontdesk.js");
const launches: [string, string[]][] = [
  ["runStdioServer (node --import tsx)", ["--import", "tsx", ENTRY]],
  ["node bin/frontdesk.js mcp", [BIN, "mcp"]],
];

describe.each(launches)("MCP over stdio: %s", (_name, args) => {
  const dir = scratch();
  const storeUrl = `sqlite:${join(dir.dir, "fd.db")}`;
  afterAll(() => dir.remove());

  const start = async (env: Record<string, string>) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args,
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", FRONTDESK_STORE: storeUrl, ...env },
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const errors: Error[] = [];
    const client = new Client({ name: "stdio-test", version: "1.0.0" });
    client.onerror = (error) => errors.push(error);
    await client.connect(transport);
    return { client, transport, errors, stderr: () => stderr };
  };

  it("serves the tools to a real client, for the user in FRONTDESK_USER, and exits when stdin ends", async () => {
    const { client, transport, errors, stderr } = await start({ FRONTDESK_USER: "dana" });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("session_create");
    const created = structured<{ session: { id: string; userId: string } }>(
      await call(client, "session_create", { session_id: "from-stdio", title: "over stdio" }),
    );
    expect(created.session).toMatchObject({ id: "from-stdio", userId: "dana" });
    await call(client, "session_add_message", { session_id: "from-stdio", role: "user", content: "hello" });
    const bad = await call(client, "session_get", { session_id: "" });
    expect(bad.isError).toBe(true);
    const read = await client.readResource({ uri: "frontdesk://sessions/from-stdio" });
    expect(resourceJson(read)).toMatchObject({ id: "from-stdio", lastSeq: 1 });

    const pid = transport.pid;
    expect(pid).toBeTypeOf("number");
    const started = Date.now();
    await client.close();
    // It left on its own when stdin ended, well before the SDK's 2 s SIGTERM fallback.
    expect(Date.now() - started).toBeLessThan(1_900);
    expect(() => process.kill(pid as number, 0)).toThrow();
    // stdout carried only MCP messages (the client would have reported a parse error otherwise).
    expect(errors).toEqual([]);
    expect(stderr()).toMatch(/serving the sessions of user "dana"/);

    const store = await openStore(storeUrl);
    try {
      const sessions = new SessionManager(() => ({}), store);
      expect((await sessions.forUser("dana").get("from-stdio")).stats.messages).toBe(1);
      await expect(sessions.forUser("local").get("from-stdio")).rejects.toMatchObject({ code: "not_found" });
    } finally {
      await store.close();
    }
  });

  it("stops on SIGTERM", async () => {
    const { client, transport } = await start({});
    const pid = transport.pid as number;
    const closed = new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
    });
    process.kill(pid, "SIGTERM");
    await closed;
    expect(() => process.kill(pid, 0)).toThrow();
    await client.close();
  });

  it('acts for "local" when no user is named', async () => {
    const { client } = await start({});
    const created = structured<{ session: { userId: string } }>(await call(client, "session_create", {}));
    expect(created.session.userId).toBe("local");
    await client.close();
  });
});
