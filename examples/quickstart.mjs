import { createSessionManager } from "frontdesk";

// An embedded SQLite file: nothing to set up. Every session of a user is isolated from other users'.
const sessions = await createSessionManager({
  store: "sqlite:./.frontdesk/quickstart.db",
  defaultState: () => ({ turns: 0 }),
});
const alice = sessions.forUser("alice");

const session = await alice.create({ title: "Trip to Lisbon", tags: ["travel"] });
await alice.addMessage(session.id, { role: "user", content: "Find me a hotel near the river." });
await alice.linkInvocation(session.id, {
  tool: "hotel_search",
  input: { city: "Lisbon", near: "Tagus" },
  output: [{ name: "Casa do Rio", price: 140 }],
  durationMs: 212,
});
await alice.addMessage(session.id, {
  role: "assistant",
  content: "Casa do Rio is by the river, at 140 EUR a night.",
  usage: { inputTokens: 48, outputTokens: 14 },
});

// No lost updates: concurrent updates are retried on conflict, never merged silently.
await Promise.all([1, 2, 3].map(() => alice.update(session.id, (state) => ({ ...state, turns: state.turns + 1 }))));

const current = await alice.get(session.id);
console.log(current.state); // { turns: 3 }
console.log(current.stats.messages, current.stats.toolsUsed); // 2 [ 'hotel_search' ]
for (const event of await alice.readEvents(session.id, { types: ["message"] })) {
  console.log(event.seq, event.role, event.content);
}

// Another user cannot see it: it looks exactly like a session that does not exist.
const bob = sessions.forUser("bob");
console.log((await bob.getSession(session.id)).error); // { code: 'not_found', message: 'Session not found' }

await sessions.store.close();
