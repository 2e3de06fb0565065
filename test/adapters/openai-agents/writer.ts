/**
 * One writer process of the multi-process test: it opens its own FrontdeskSession on the store and
 * prints "ready"; then, for every "go" line on stdin, does one operation (adding its own numbered
 * items, or every third time popping) and prints "done", so that the test starts every round in
 * all writers at once. On "end" it prints what it added and exactly what each pop returned.
 *
 * Usage: node --import tsx writer.ts <store URL> <session id> <writer name>
 */
import { createInterface } from "node:readline";
import type { AgentInputItem } from "@openai/agents-core";
import { FrontdeskSession } from "../../../src/adapters/openai-agents/index.ts";

const [url, sessionId, writer] = process.argv.slice(2) as [string, string, string];
const session = new FrontdeskSession({ store: url, sessionId, manager: { defaultTtlMs: null } });
await session.getItems(1); // connected before the first round, so the writers race on writes only

const added: string[] = [];
const popped: (string | null)[] = [];
let op = 0;
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "end") break;
  if (op % 3 === 2) {
    const item = (await session.popItem()) as { content?: string } | undefined;
    popped.push(item ? (item.content ?? JSON.stringify(item)) : null);
  } else {
    const contents = Array.from({ length: 1 + (op % 2) }, (_, i) => `${writer}:${added.length + i}`);
    const items: AgentInputItem[] = contents.map((content) => ({ role: "user", content }));
    await session.addItems(items);
    added.push(...contents);
  }
  op++;
  process.stdout.write("done\n");
}
process.stdout.write(`${JSON.stringify({ writer, added, popped })}\n`);
await session.close();
