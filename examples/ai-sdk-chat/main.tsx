/**
 * Where the page starts: the key and the chat id come from the query string (`?key=…&chat=…`),
 * filled by the form below when absent, so a reload keeps both and lands on the same chat. The
 * chat's stored history is loaded once, before useChat mounts, and handed to it as `messages`.
 */
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { type ChatMessage, ChatView } from "./chat.tsx";

function App() {
  const params = new URLSearchParams(window.location.search);
  const apiKey = params.get("key") ?? "";
  let chatId = params.get("chat") ?? "";
  if (apiKey && !chatId) {
    // A new chat: Frontdesk creates the session on the first message. Kept in the URL for reloads.
    chatId = `chat-${crypto.randomUUID()}`;
    params.set("chat", chatId);
    window.history.replaceState(null, "", `?${params}`);
  }
  if (!apiKey) return <SignIn />;
  return <ChatLoader apiKey={apiKey} chatId={chatId} />;
}

function SignIn() {
  // A plain GET form: it puts `key` and `chat` in the query string, where App reads them.
  return (
    <main>
      <h1>Frontdesk · useChat</h1>
      <form className="sign-in" method="get">
        <label>
          API key
          <input name="key" required autoComplete="off" placeholder="fd_…" />
        </label>
        <label>
          Chat id <small>(empty: a new chat)</small>
          <input name="chat" autoComplete="off" />
        </label>
        <button type="submit">Open chat</button>
      </form>
    </main>
  );
}

function ChatLoader({ apiKey, chatId }: { apiKey: string; chatId: string }) {
  const [history, setHistory] = useState<History>();
  const [failure, setFailure] = useState<string>();
  useEffect(() => {
    const controller = new AbortController();
    loadHistory(apiKey, chatId, controller.signal).then(setHistory, (error: unknown) => {
      if (!controller.signal.aborted) setFailure(error instanceof Error ? error.message : String(error));
    });
    return () => controller.abort();
  }, [apiKey, chatId]);

  if (failure) return <p role="alert">Could not load the chat: {failure}</p>;
  if (!history) return <p>Loading the chat…</p>;
  return <ChatView apiKey={apiKey} chatId={chatId} initialMessages={history.messages} resume={history.exists} />;
}

interface History {
  messages: ChatMessage[];
  /** False for a new chat: there is no session yet, so no reply to resume. */
  exists: boolean;
}

/** The stored history, without the reply still being written: `resume` streams that one. */
async function loadHistory(apiKey: string, chatId: string, signal: AbortSignal): Promise<History> {
  const response = await fetch(`/v1/chat/${encodeURIComponent(chatId)}/messages`, {
    headers: { Authorization: `Bearer ${apiKey}` },
    signal,
  });
  // No session yet: the first message creates it.
  if (response.status === 404) return { messages: [], exists: false };
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  const body = (await response.json()) as { messages: ChatMessage[] };
  return { messages: body.messages, exists: true };
}

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
