/**
 * `loadChat` / `saveChat` for AI SDK UIMessage chats, the two functions of the AI SDK's "chatbot
 * message persistence" recipe, on a Frontdesk store: a chat is a session (its id is the chat id),
 * owned by the adapter's `userId` or the one passed on a call.
 */
import { consumeStream, generateId, type UIMessage, type UIMessageStreamOnFinishCallback } from "ai";
import { type EventInput, FrontdeskError, isFrontdeskError, type Session, type SessionManager } from "../../index.ts";
import { AdapterBackend, type AdapterOptions, externalSessionId, findSession } from "../shared/backend.ts";
import { isPrunedMarker } from "../shared/redaction.ts";
import { readUIMessages, type StoredUIMessage, storedUIMessage, UI_FIELD, uiMessageEvents } from "./convert.ts";
import { CHAT_STATE_KEY, type ChatFingerprint, chain, chainOf, EMPTY_FINGERPRINT, planSave } from "./history.ts";

/** The tag every chat session carries, so a console or a list can pick chats out. */
export const CHAT_TAG = "ai-sdk";
const PAGE = 1000;
const MAX_ATTEMPTS = 20;

/** Who a call acts for; absent fields fall back to the adapter's defaults. */
export interface ChatCallOptions {
  /** The chat's owner; wins over the adapter's `userId`. `null`: no owner. */
  userId?: string | null;
}

export interface SaveChatInput<M extends UIMessage = UIMessage> extends ChatCallOptions {
  /** The chat id (any string; one that is not a Frontdesk session id is mapped to one). */
  id: string;
  /** The whole chat, as `onFinish` of `toUIMessageStreamResponse` gives it, or the stored chat plus new messages. */
  messages: readonly M[];
}

/** What `persistOnFinish` gives to spread into `toUIMessageStreamResponse` / `createUIMessageStream`. */
export interface PersistOptions<M extends UIMessage> {
  originalMessages: M[];
  /** Makes the reply's id on the server, so the stored id is the one the browser got. @default generateId */
  generateMessageId: () => string;
  onFinish: UIMessageStreamOnFinishCallback<M>;
  consumeSseStream: (options: { stream: ReadableStream<string> }) => Promise<void>;
}

export interface ChatStore {
  /** A new empty chat; returns its id. */
  createChat(options?: ChatCallOptions): Promise<string>;
  /**
   * The chat's messages, oldest first, exactly as saved (ids, parts, metadata); `[]` for a chat
   * that was never saved, or that belongs to another user.
   */
  loadChat<M extends UIMessage = UIMessage>(id: string, options?: ChatCallOptions): Promise<M[]>;
  /**
   * Stores what is new in `messages`: the messages after those already stored, and the growth of
   * the last stored assistant message when the AI SDK continued it (a tool result added on the
   * client, a tool approval). One atomic commit, whose cost depends on what is new, not on the
   * chat's length. A list that drops or changes a stored message is refused with `conflict`
   * (`details.reason` `dropped` or `rewritten`) and nothing is written; a message that is not a
   * UIMessage with `invalid_request`. Saving the same list twice writes nothing the second time.
   */
  saveChat<M extends UIMessage>(input: SaveChatInput<M>): Promise<void>;
  /**
   * The stream options that save the chat when the reply ends, whether or not the browser is still
   * reading: `originalMessages`, an `onFinish` that calls `saveChat`, and `consumeSseStream`, which
   * keeps the response stream running after a disconnect (without it, the AI SDK calls `onFinish`
   * at the disconnect with the reply cut short), and `generateMessageId`, so the reply has a
   * server-made id (the AI SDK leaves it empty otherwise).
   * @example return result.toUIMessageStreamResponse(chats.persistOnFinish({ id, messages }));
   */
  persistOnFinish<M extends UIMessage>(
    input: SaveChatInput<M> & { generateMessageId?: () => string },
  ): PersistOptions<M>;
  /** Closes the store when the adapter opened it from a URL. */
  close(): Promise<void>;
}

/**
 * Chat persistence for the AI SDK on any Frontdesk store.
 *
 * @example
 * const chats = createChatStore({ store: "sqlite:./chats.db", userId: "alice" });
 * const result = streamText({ model, messages: await convertToModelMessages(messages) });
 * // Saved when the reply ends, even when the browser went away mid-stream.
 * return result.toUIMessageStreamResponse(chats.persistOnFinish({ id, messages }));
 */
export function createChatStore(options: AdapterOptions = {}): ChatStore {
  const backend = new AdapterBackend(options);
  const managerFor = (call: ChatCallOptions | undefined) =>
    backend.managerFor(call?.userId !== undefined ? { userId: call.userId } : {});

  const store: ChatStore = {
    async createChat(call) {
      const sessions = await managerFor(call);
      const id = generateId();
      await sessions.create({
        sessionId: id,
        tags: [CHAT_TAG],
        metadata: { aiSdk: { chatId: id } },
        ifExists: "error",
      });
      return id;
    },

    async loadChat<M extends UIMessage = UIMessage>(id: string, call?: ChatCallOptions): Promise<M[]> {
      const sessions = await managerFor(call);
      const sessionId = externalSessionId(checkId(id));
      const session = await findSession(sessions, sessionId);
      if (!session) return [];
      return readUIMessages(await readAllMessages(sessions, sessionId, session.lastSeq)).messages as unknown as M[];
    },

    async saveChat<M extends UIMessage>(input: SaveChatInput<M>): Promise<void> {
      if (typeof input !== "object" || input === null || !Array.isArray(input.messages)) {
        throw new FrontdeskError("invalid_request", "saveChat needs { id, messages: UIMessage[] }");
      }
      const chatId = checkId(input.id);
      const incoming = input.messages.map((message) => storedUIMessage(message));
      checkUniqueIds(incoming);
      const sessions = await managerFor(input);
      const sessionId = externalSessionId(chatId);
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const session =
          (await findSession(sessions, sessionId)) ??
          (await sessions.create({
            sessionId,
            tags: [CHAT_TAG],
            metadata: { aiSdk: { chatId } },
            title: titleOf(incoming),
          }));
        const { fingerprint, readLast } = await fingerprintOf(sessions, session);
        const plan = await planSave(fingerprint, incoming, readLast).catch(async (error: unknown) => {
          // A pruned chat holds only the end of the client's list: match it against that end.
          if (!isFrontdeskError(error, "conflict") || !(await isPruned(sessions, session.id))) throw error;
          const rebuilt = await rebuiltFingerprint(sessions, session);
          return planSave(rebuilt.fingerprint, incoming, rebuilt.readLast, true);
        });
        const fresh = incoming.slice(plan.from);
        if (fresh.length === 0) return;
        const events: EventInput[] = [];
        let lastHeadSeq = 0;
        for (const [i, message] of fresh.entries()) {
          const written = await uiMessageEvents(message, i === 0 ? plan.continued : undefined);
          const head = written.findIndex((event) => event.type === "message" && UI_FIELD in event);
          lastHeadSeq = session.lastSeq + events.length + head + 1;
          events.push(...written);
        }
        const { previous, hash } = chainOf(incoming, incoming.length);
        const next: ChatFingerprint = {
          count: incoming.length,
          hash,
          previousHash: previous,
          lastId: (incoming[incoming.length - 1] as StoredUIMessage).id,
          lastHeadSeq,
          seq: session.lastSeq + events.length,
        };
        const last = events[events.length - 1] as EventInput;
        last.stateDelta = { ...last.stateDelta, [CHAT_STATE_KEY]: next };
        try {
          await sessions.appendEvents(sessionId, events, { expectedVersion: session.version });
          return;
        } catch (error) {
          // Another writer got in first: read again and check the list against what it wrote.
          if (!isFrontdeskError(error, "precondition_failed")) throw error;
        }
      }
      throw new FrontdeskError("conflict", `chat ${chatId} kept changing while it was saved`);
    },

    persistOnFinish(input) {
      const { generateMessageId = generateId, ...save } = input;
      return {
        originalMessages: [...save.messages],
        generateMessageId,
        onFinish: ({ messages }) => store.saveChat({ ...save, messages }),
        consumeSseStream: ({ stream }) => consumeStream({ stream }),
      };
    },

    close: () => backend.close(),
  };
  return store;
}

/**
 * The chat's fingerprint from the session state, or rebuilt from its events when the state has
 * none or others wrote to the session since (an agent turn, the HTTP API, a fork).
 */
async function fingerprintOf(
  sessions: SessionManager,
  session: Session,
): Promise<{ fingerprint: ChatFingerprint; readLast: () => Promise<StoredUIMessage | undefined> }> {
  const kept = session.state[CHAT_STATE_KEY] as ChatFingerprint | undefined;
  if (kept && kept.seq === session.lastSeq) {
    return { fingerprint: kept, readLast: () => readHead(sessions, session.id, kept.lastHeadSeq) };
  }
  if (session.lastSeq === 0) return { fingerprint: EMPTY_FINGERPRINT, readLast: async () => undefined };
  return rebuiltFingerprint(sessions, session);
}

/** The chat's fingerprint rebuilt from its events. */
async function rebuiltFingerprint(
  sessions: SessionManager,
  session: Session,
): Promise<{ fingerprint: ChatFingerprint; readLast: () => Promise<StoredUIMessage | undefined> }> {
  const { messages, heads } = readUIMessages(await readAllMessages(sessions, session.id, session.lastSeq));
  const stored = messages.map((message) => storedUIMessage(message));
  let hash = "";
  let previous = "";
  for (const message of stored) {
    previous = hash;
    hash = chain(hash, message);
  }
  const last = stored[stored.length - 1];
  const lastHeadSeq = heads[heads.length - 1] ?? 0;
  return {
    fingerprint: {
      count: stored.length,
      hash,
      previousHash: previous,
      lastId: last?.id ?? "",
      lastHeadSeq,
      seq: session.lastSeq,
    },
    // A message converted from an agent's events has no whole copy to continue.
    readLast: async () => (lastHeadSeq > 0 ? last : undefined),
  };
}

/** Whether the chat's log starts at a `frontdesk.pruned` marker: the messages before it are gone. */
async function isPruned(sessions: SessionManager, sessionId: string): Promise<boolean> {
  const [first] = await sessions.readEvents(sessionId, { limit: 1 });
  return first !== undefined && isPrunedMarker(first);
}

async function readHead(
  sessions: SessionManager,
  sessionId: string,
  seq: number,
): Promise<StoredUIMessage | undefined> {
  if (seq <= 0) return undefined;
  const [event] = await sessions.readEvents(sessionId, { after: seq - 1, limit: 1 });
  return event?.type === "message" ? ((event as Record<string, unknown>)[UI_FIELD] as StoredUIMessage) : undefined;
}

async function readAllMessages(sessions: SessionManager, sessionId: string, upTo: number) {
  const events = [];
  let after = 0;
  while (after < upTo) {
    const page = await sessions.readEvents(sessionId, { after, limit: PAGE });
    if (page.length === 0) break;
    // Tool calls name the calls of a message whose events were redacted (redacted.ts).
    for (const event of page) if (event.type === "message" || event.type === "tool_call") events.push(event);
    after = (page[page.length - 1] as { seq: number }).seq;
  }
  return events;
}

function checkId(id: unknown): string {
  if (typeof id !== "string" || id.length === 0 || id.length > 1024) {
    throw new FrontdeskError("invalid_request", "a chat id must be a non-empty string of at most 1024 characters");
  }
  return id;
}

function checkUniqueIds(messages: readonly StoredUIMessage[]): void {
  const seen = new Set<string>();
  for (const message of messages) {
    if (seen.has(message.id)) {
      throw new FrontdeskError("invalid_request", `message id ${message.id} appears twice in the chat`);
    }
    seen.add(message.id);
  }
}

/** The first user message's text, cut to a title. */
function titleOf(messages: readonly StoredUIMessage[]): string | null {
  const first = messages.find((message) => message.role === "user");
  const text = first?.parts
    .map((part) => (part.type === "text" ? String(part.text) : ""))
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
  if (!text) return null;
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
