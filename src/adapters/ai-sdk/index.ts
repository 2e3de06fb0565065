/**
 * Frontdesk under the AI SDK (`ai` v6): `loadChat` / `saveChat` for `useChat` UIMessage chats, and
 * the converters between Frontdesk's message events and the AI SDK's `ModelMessage` and
 * `UIMessage`. A chat is a first-class Frontdesk session: its messages are `message` events and
 * its tool calls `tool_call` / `tool_result` events, so the console, SSE, export, TTL and per-user
 * isolation work on it as on any session.
 *
 * @packageDocumentation
 */
export type { AdapterOptions } from "../shared/backend.ts";
export {
  CHAT_TAG,
  type ChatCallOptions,
  type ChatStore,
  createChatStore,
  type PersistOptions,
  type SaveChatInput,
} from "./chat-store.ts";
export {
  fromModelMessages,
  fromUIMessages,
  type StoredUIMessage,
  toModelMessages,
  toUIMessages,
  UI_FIELD,
  UI_ID_FIELD,
} from "./convert.ts";
export { CHAT_STATE_KEY, type ChatFingerprint } from "./history.ts";
