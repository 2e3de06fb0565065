// An AI SDK chat route that keeps every chat in Frontdesk. A scripted model stands in for a real
// provider, and a Request stands in for useChat's POST, so this runs with no network.
import { convertToModelMessages, streamText } from "ai";
import { MockLanguageModelV3, simulateReadableStream } from "ai/test";
import { createChatStore } from "frontdesk/adapters/ai-sdk";

const chats = createChatStore({ store: "sqlite:./.frontdesk/chats.db", userId: "alice" });
const model = new MockLanguageModelV3({
  doStream: async () => ({
    stream: simulateReadableStream({
      chunks: [
        { type: "text-start", id: "t" },
        { type: "text-delta", id: "t", delta: "Casa do Rio, by the river." },
        { type: "text-end", id: "t" },
        {
          type: "finish",
          finishReason: { unified: "stop", raw: "stop" },
          usage: { inputTokens: {}, outputTokens: {} },
        },
      ],
    }),
  }),
});

// The route: load the stored chat, add the new message, stream the reply, save it when it ends.
async function POST(request) {
  const { id, message } = await request.json();
  const messages = [...(await chats.loadChat(id)), message];
  const result = streamText({ model, messages: await convertToModelMessages(messages) });
  return result.toUIMessageStreamResponse(chats.persistOnFinish({ id, messages }));
}

const id = await chats.createChat();
const message = { id: "m1", role: "user", parts: [{ type: "text", text: "A hotel in Lisbon?" }] };
const response = await POST(
  new Request("http://localhost/api/chat", { method: "POST", body: JSON.stringify({ id, message }) }),
);
await response.text(); // the browser reads the stream; the reply is saved when it ends

for (const { role, parts } of await chats.loadChat(id)) {
  console.log(
    role,
    parts
      .filter((part) => part.type === "text")
      .map((part) => part.text)
      .join(""),
  );
}
await chats.close();
