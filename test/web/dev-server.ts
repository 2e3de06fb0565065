// Not a test: starts a seeded server for manual work. npx tsx test/web/dev-server.ts
import { writeFileSync } from "node:fs";
import { apiClient, startServe } from "./harness.ts";
import { seedConversation, seedManyEvents, seedSessions } from "./seed.ts";

const serve = await startServe({
  config: {
    agents: {
      assistant: { model: "offline", systemPrompt: "Test.", tools: ["calculator"], approval: { calculator: "ask" } },
    },
  },
});
const admin = apiClient(serve.apiUrl, serve.adminKey);
await seedSessions(admin, ["alice", "bob", "carol"]);
await seedConversation(admin, "alice", "refund-4821");
if (process.env.MANY) await seedManyEvents(admin, "alice", "long-5000", 5000);
writeFileSync("/tmp/dev/server.json", JSON.stringify({ url: serve.url, apiUrl: serve.apiUrl, key: serve.adminKey }));
console.log(serve.url, serve.adminKey);
process.on("SIGTERM", () => void serve.stop().then(() => process.exit(0)));
