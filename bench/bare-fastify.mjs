// The HTTP bench's denominator: a bare Fastify route answering a constant, in its own process.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/constant", async () => ({ ok: true }));
app.post("/constant", async () => ({ ok: true }));
await app.listen({ host: "127.0.0.1", port: 0 });
console.log(`listening on http://127.0.0.1:${app.server.address().port}`);
process.on("SIGTERM", () => app.close().then(() => process.exit(0)));
