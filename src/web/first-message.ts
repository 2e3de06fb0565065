/**
 * The first message of a session made with "New session", handed to its page, which sends it as
 * a turn once its events are loaded. Kept in memory only: a reload never sends it a second time.
 */
const waiting = new Map<string, string>();

export function handOverFirstMessage(sessionId: string, message: string): void {
  waiting.set(sessionId, message);
}

/** The message waiting for this session, once: taking it removes it. */
export function takeFirstMessage(sessionId: string): string | undefined {
  const message = waiting.get(sessionId);
  waiting.delete(sessionId);
  return message;
}
