import { BaseLlm, LlmAgent, Runner } from "@google/adk";
import { FrontdeskSessionService } from "frontdesk/adapters/adk";

// A stand-in for Gemini, so the example runs offline: it repeats what it was told.
class EchoModel extends BaseLlm {
  async *generateContentAsync(request) {
    const said = request.contents.at(-1)?.parts?.[0]?.text ?? "";
    yield { content: { role: "model", parts: [{ text: `You said: ${said}` }] } };
  }
}

// The one line that changes: new FrontdeskSessionService(...) instead of new InMemorySessionService().
const sessionService = new FrontdeskSessionService({ store: "sqlite:./.frontdesk/adk-example.db" });
const agent = new LlmAgent({ name: "echo", model: new EchoModel({ model: "echo" }), outputKey: "lastReply" });
const runner = new Runner({ appName: "echo-app", agent, sessionService });

const session = await sessionService.createSession({
  appName: "echo-app",
  userId: "ada",
  state: { "user:name": "Ada" },
});
for (const text of ["hello", "still there?"]) {
  const newMessage = { role: "user", parts: [{ text }] };
  for await (const event of runner.runAsync({ userId: "ada", sessionId: session.id, newMessage })) {
    if (event.content?.parts?.[0]?.text) console.log(`${event.author}: ${event.content.parts[0].text}`);
  }
}
const stored = await sessionService.getSession({ appName: "echo-app", userId: "ada", sessionId: session.id });
console.log(stored.events.length, "events;", stored.state);
await sessionService.close();
