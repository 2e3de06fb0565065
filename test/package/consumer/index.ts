/**
 * A program written as a user of the published package writes it: it imports every package export
 * by its public name and uses it. test/package/packed.test.ts compiles it with `strict` and
 * `skipLibCheck: false` in a project where only the packed tarball is installed, then runs it.
 * It is not compiled inside this repository (tsconfig.json excludes it): here "frontdesk" would
 * resolve to the working tree, not to what users get.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { createSessionManager, isFrontdeskError, type SessionStore } from "frontdesk";
import { AgentSession } from "frontdesk/agent";
import { FrontdeskClient } from "frontdesk/client";
import { createFrontdeskMcpServer } from "frontdesk/mcp";
import { createApiKey, startServer } from "frontdesk/server";
import { createFsStore } from "frontdesk/stores/fs";
import { createMemoryStore } from "frontdesk/stores/memory";
import { createPostgresStore, type PostgresStoreOptions } from "frontdesk/stores/postgres";
import { createRedisStore, type RedisStoreOptions } from "frontdesk/stores/redis";
import { createSqliteStore } from "frontdesk/stores/sqlite";
import { describeStoreConformance, FakeClock, type StoreHarness } from "frontdesk/testing";

interface TripState {
  turns: number;
}

const dir = mkdtempSync(join(tmpdir(), "fd-consumer-"));
const report: Record<string, unknown> = {};
try {
  const store = createSqliteStore({ path: join(dir, "frontdesk.db") });
  const sessions = await createSessionManager<TripState>({ store, defaultState: () => ({ turns: 0 }) });
  const alice = sessions.forUser("alice");
  const session = await alice.create({ sessionId: "trip", title: "Trip to Lisbon" });
  await alice.addMessage(session.id, { role: "user", content: "Find me a hotel near the river." });
  const updated = await alice.update(session.id, (state) => ({ turns: state.turns + 1 }));
  report.library = { turns: updated.state.turns, messages: updated.stats.messages };
  const missing = await sessions.forUser("bob").getSession(session.id);
  report.isolation = missing.success ? "visible to another user" : missing.error.code;

  const agent = new AgentSession({ sessions: alice, sessionId: session.id });
  await agent.initialize();
  const turn = await agent.runTurn("compute 2+3*4");
  await agent.close();
  report.agent = turn.text;

  const server = await startServer({ store, port: 0, logger: false, closeStore: false });
  try {
    const { key } = await createApiKey(store, { userId: "alice" });
    const client = new FrontdeskClient<TripState>({ baseUrl: server.url, apiKey: key });
    const fetched = await client.get(session.id);
    report.client = { title: fetched.title, turns: fetched.state.turns };
  } finally {
    await server.close();
  }

  const mcp = createFrontdeskMcpServer({ sessions: alice });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await mcp.connect(serverSide);
  const mcpClient = new Client({ name: "consumer", version: "1.0.0" });
  await mcpClient.connect(clientSide);
  const got = await mcpClient.callTool({ name: "session_get", arguments: { session_id: session.id } });
  const gotSession = (got.structuredContent as { session?: { title?: string } } | undefined)?.session;
  report.mcp = gotSession?.title;
  await mcpClient.close();

  const others: SessionStore[] = [createMemoryStore(), createFsStore({ root: join(dir, "fs") })];
  report.stores = [];
  for (const other of others) {
    const manager = await createSessionManager({ store: other });
    const created = await manager.forUser("alice").create({ title: "elsewhere" });
    (report.stores as string[]).push(created.title ?? "");
    await other.close();
  }
  // Building these needs no server; they are only constructed, never connected.
  const sharedFactories: [
    (options: RedisStoreOptions) => SessionStore,
    (options: PostgresStoreOptions) => SessionStore,
  ] = [createRedisStore, createPostgresStore];
  report.sharedFactories = sharedFactories.map((factory) => typeof factory);

  const clock = new FakeClock();
  const harness: StoreHarness = {
    name: "sqlite in memory",
    create: async (context) => createSqliteStore({ path: ":memory:" }, { clock: context.clock }),
  };
  report.testing = { harness: harness.name, conformance: typeof describeStoreConformance, clock: clock.now() };

  try {
    await alice.get("nowhere");
  } catch (error) {
    report.error = isFrontdeskError(error) ? error.code : "not a FrontdeskError";
  }

  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
