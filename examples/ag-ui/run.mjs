// An AG-UI client (@ag-ui/client's HttpAgent, unchanged) against `frontdesk serve`:
// one turn with a tool that asks for approval, answered through `resume`, then the thread
// loaded again by a second client, as a reloaded page would.
//
//   FRONTDESK_URL=http://127.0.0.1:7420 FRONTDESK_KEY=fd_... node examples/ag-ui/run.mjs "compute 2+3*4"
//
// Optional: FRONTDESK_THREAD (the session id; default a new one), --deny (deny the tool instead).
import { randomUUID } from "node:crypto";
import { EventType, HttpAgent } from "@ag-ui/client";

const args = process.argv.slice(2);
const deny = args.includes("--deny");
const message = args.filter((arg) => arg !== "--deny").join(" ") || "compute 2+3*4";
const url = process.env.FRONTDESK_URL ?? "http://127.0.0.1:7420";
const key = process.env.FRONTDESK_KEY;
if (!key) {
  console.error("Set FRONTDESK_KEY to a key from `frontdesk keys create --user <you>`");
  process.exit(2);
}
const threadId = process.env.FRONTDESK_THREAD ?? `agui-${randomUUID()}`;
const connect = () => new HttpAgent({ url: `${url}/v1/ag-ui`, headers: { Authorization: `Bearer ${key}` }, threadId });

/** Prints what a run streams: the reply's text as it arrives, tool calls and their results. */
const replies = new Set();
const printer = {
  onEvent({ event }) {
    switch (event.type) {
      case EventType.TEXT_MESSAGE_START:
        if (event.role === "assistant") {
          replies.add(event.messageId);
          process.stdout.write("assistant: ");
        }
        break;
      case EventType.TEXT_MESSAGE_CONTENT:
        if (replies.has(event.messageId)) process.stdout.write(event.delta);
        break;
      case EventType.TOOL_CALL_START:
        process.stdout.write(`\ntool call: ${event.toolCallName}`);
        break;
      case EventType.TOOL_CALL_ARGS:
        process.stdout.write(` ${event.delta}`);
        break;
      case EventType.TOOL_CALL_RESULT:
        process.stdout.write(`\ntool result: ${event.content}\n`);
        break;
      case EventType.RUN_FINISHED:
        process.stdout.write(`\nrun finished: ${event.outcome?.type ?? "success"}\n`);
        break;
      case EventType.RUN_ERROR:
        process.stdout.write(`\nrun error: ${event.code} ${event.message}\n`);
        break;
    }
  },
};

const agent = connect();
agent.addMessage({ id: randomUUID(), role: "user", content: message });
console.log(`thread ${threadId}`);
console.log(`user: ${message}`);
await agent.runAgent({}, printer);

// The run ended on an approval: answer it and let the turn (still waiting on the server) go on.
while (agent.pendingInterrupts.length > 0) {
  const resume = agent.pendingInterrupts.map((interrupt) => {
    console.log(`approval asked: ${interrupt.message} ${JSON.stringify(interrupt.metadata?.input ?? {})}`);
    console.log(deny ? "denied" : "approved");
    return { interruptId: interrupt.id, status: "resolved", payload: { approved: !deny } };
  });
  await agent.runAgent({ resume }, printer);
}

// A second client on the thread (a reload): a run with no new message loads the stored thread.
const reloaded = connect();
await reloaded.runAgent();
console.log(`reloaded: ${reloaded.messages.length} messages, ${JSON.stringify(reloaded.messages.map((m) => m.role))}`);
/** JSON with sorted keys: two message lists compare by content, not by the order fields were set. */
const canonical = (value) =>
  JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v,
  );
console.log(`same as the first client: ${canonical(reloaded.messages) === canonical(agent.messages)}`);
console.log(`agent phase: ${reloaded.state.agent?.phase}`);
