/**
 * One writer process of the multi-process test: it opens its own FrontdeskSession on the store,
 * prints "ready", waits for "go" on stdin (so all writers start together), then adds its own
 * numbered items and pops, and prints what it added and exactly what each pop returned.
 *
 * Usage: node --import tsx writer.ts <store URL> <session id> <writer name> <operations>
 */
import { once } from "node:events";
import type { AgentInputItem } from "@openai/agents-core";
import { FrontdeskSession } from "../../../src/adapters/openai-agents/index.ts";

const [url, sessionId, writer, operations] = process.argv.slice(2) as [string, string, string, string];
const session = new FrontdeskSession({ store: url, sessionId, manager: { defaultTtlMs: null } });
await session.getItems(1); // connect before the start line, so the writers race on writes only

process.stdout.write("ready\n");
process.stdin.setEncoding("utf8");
let input = "";
while (!input.includes("go\n")) input += (await once(process.stdin, "data"))[0];

const added: string[] = [];
const popped: (string | null)[] = [];
let next = 0;
for (let op = 0; op < Number(operations); op++) {
  if (op % 3 === 2) {
    const item = (await session.popItem()) as { content?: string } | undefined;
    popped.push(item ? (item.content ?? JSON.stringify(item)) : null);
  } else {
    const contents = Array.from({ length: 1 + (op % 2) }, () => `${writer}:${next++}`);
    const items: AgentInputItem[] = contents.map((content) => ({ role: "user", content }));
    await session.addItems(items);
    added.push(...contents);
  }
}
process.stdout.write(`${JSON.stringify({ writer, added, popped })}\n`);
await session.close();
process.stdin.destroy();
