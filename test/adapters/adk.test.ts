import { createEvent, type Event, InMemorySessionService, type Session } from "@google/adk";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FrontdeskSessionService, isStaleSessionError } from "../../src/adapters/adk/index.ts";
import { isFrontdeskError } from "../../src/index.ts";
import { PLACES, type Place } from "./adk-places.ts";

/**
 * A script of ADK events covering what a session holds: user text, model text with a thought and
 * usage, a function call and its response, an event without content, `temp:`/`app:`/`user:` state,
 * fields left undefined. Built afresh for every service, since ADK's services edit events in place.
 */
function script(): Event[] {
  const at = 1_700_000_000_000;
  return [
    createEvent({
      id: "ev1",
      invocationId: "inv1",
      author: "user",
      timestamp: at,
      content: { role: "user", parts: [{ text: "What is 2+3?" }] },
      actions: { stateDelta: { topic: "maths", "temp:draft": "x", "user:lang": "en" } },
    }),
    createEvent({
      id: "ev2",
      invocationId: "inv1",
      author: "calc",
      timestamp: at + 10,
      content: {
        role: "model",
        parts: [
          { text: "thinking", thought: true },
          { text: "Let me add." },
          { functionCall: { id: "call-1", name: "add", args: { a: 2, b: 3 } } },
        ],
      },
      usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 5, totalTokenCount: 17 },
      branch: undefined,
    }),
    createEvent({
      id: "ev3",
      invocationId: "inv1",
      author: "calc",
      timestamp: at + 20,
      content: { role: "user", parts: [{ functionResponse: { id: "call-1", name: "add", response: { result: 5 } } }] },
      actions: { stateDelta: { "app:calls": 1, last: 5 } },
    }),
    createEvent({
      id: "ev4",
      invocationId: "inv1",
      author: "calc",
      timestamp: at + 30,
      content: { role: "model", parts: [{ text: "2+3 = 5" }] },
      customMetadata: { note: "final" },
    }),
    createEvent({
      id: "ev5",
      invocationId: "inv1",
      author: "calc",
      timestamp: at + 40,
      actions: { stateDelta: { done: true, "temp:scratch": 1 }, endOfAgent: true },
    }),
  ];
}

const KEY = { appName: "calc-app", userId: "ada", sessionId: "s1" };

async function replay(service: FrontdeskSessionService | InMemorySessionService, events: Event[]): Promise<Session> {
  const session = await service.createSession({ ...KEY, state: { started: true } });
  for (const event of events) await service.appendEvent({ session, event });
  return session;
}

for (const kind of PLACES) {
  describe.skipIf(!kind.available)(`FrontdeskSessionService on ${kind.name}`, () => {
    let place: Place;
    beforeEach(() => {
      place = kind.open();
    });
    afterEach(async () => {
      await place.close();
    });

    it("getSession returns the events and state ADK's InMemorySessionService returns, with and without config", async () => {
      const reference = new InMemorySessionService();
      const service = place.service();
      const ours = await replay(service, script());
      const theirs = await replay(reference, script());
      expect(ours).toEqual(theirs);
      const configs = [
        undefined,
        { numRecentEvents: 2 },
        { numRecentEvents: 10 },
        { afterTimestamp: 1_700_000_000_020 },
        { numRecentEvents: 4, afterTimestamp: 1_700_000_000_015 },
        { afterTimestamp: 1_800_000_000_000 },
      ];
      for (const config of configs) {
        const got = await service.getSession({ ...KEY, config });
        const want = await reference.getSession({ ...KEY, config });
        expect(got?.events, JSON.stringify(config)).toEqual(want?.events);
        expect(got?.state).toEqual(want?.state);
        expect({ ...got, lastUpdateTime: 0 }).toEqual({ ...want, lastUpdateTime: 0 });
      }
      expect(ours.state).toMatchObject({ topic: "maths", "user:lang": "en", "app:calls": 1, last: 5, done: true });
      expect(Object.keys(ours.state).some((key) => key.startsWith("temp:"))).toBe(false);
      // The appended events themselves were trimmed of `temp:` keys, as ADK trims them.
      const stored = await service.getSession(KEY);
      expect(stored?.events[0]?.actions.stateDelta).toEqual({ topic: "maths", "user:lang": "en" });
    });

    it("stores the session first-class: messages, tool calls and results, statistics", async () => {
      const service = place.service();
      await replay(service, script());
      const sessions = (await place.manager()).forNamespace("calc-app").forUser("ada");
      const events = await sessions.readEvents("s1");
      const shapes = events.map((event) =>
        event.type === "message"
          ? `message:${event.role}`
          : event.type === "custom"
            ? `custom:${event.name}`
            : event.type,
      );
      expect(shapes).toEqual([
        "state",
        "message:user",
        "message:assistant",
        "tool_call",
        "message:tool",
        "tool_result",
        "message:assistant",
        "custom:adk.event",
      ]);
      expect(events[1]).toMatchObject({ content: [{ type: "text", text: "What is 2+3?" }] });
      expect(events[2]).toMatchObject({
        name: "calc",
        usage: { inputTokens: 12, outputTokens: 5, totalTokens: 17 },
        content: [
          { type: "reasoning", text: "thinking" },
          { type: "text", text: "Let me add." },
          { type: "tool-call", toolCallId: "call-1", toolName: "add", input: { a: 2, b: 3 } },
        ],
      });
      expect(events[3]).toMatchObject({ invocationId: "call-1", tool: "add", input: { a: 2, b: 3 } });
      expect(events[5]).toMatchObject({
        invocationId: "call-1",
        tool: "add",
        status: "success",
        output: { result: 5 },
      });
      const stats = await sessions.getStatistics("s1");
      expect(stats).toMatchObject({ messages: 4, toolCalls: 1, toolErrors: 0, toolsUsed: ["add"], inputTokens: 12 });
      const header = await sessions.get("s1");
      expect(header.metadata).toEqual({ adk: KEY });
      expect(header.state).toMatchObject({ "user:lang": "en", "app:calls": 1 });
    });

    it("keeps apps and users apart on one service, with app: state per app and user: state per user", async () => {
      const service = place.service();
      const reference = new InMemorySessionService();
      const identities = [
        { appName: "a", userId: "u1" },
        { appName: "a", userId: "u2" },
        { appName: "b", userId: "u1" },
      ];
      for (const target of [service, reference]) {
        for (const [i, who] of identities.entries()) {
          const session = await target.createSession({ ...who, sessionId: "same-id" });
          await target.appendEvent({
            session,
            event: createEvent({
              id: `e${i}`,
              timestamp: 1000 + i,
              author: "user",
              content: { role: "user", parts: [{ text: `hello from ${who.appName}/${who.userId}` }] },
              actions: { stateDelta: { mine: i, [`app:${i}`]: who.userId, [`user:${i}`]: who.appName } },
            }),
          });
        }
      }
      for (const who of identities) {
        const got = await service.getSession({ ...who, sessionId: "same-id" });
        const want = await reference.getSession({ ...who, sessionId: "same-id" });
        expect(got?.events).toEqual(want?.events);
        expect(got?.state).toEqual(want?.state);
      }
      expect((await service.getSession({ appName: "b", userId: "u2", sessionId: "same-id" })) ?? null).toBeNull();
      await service.deleteSession({ appName: "a", userId: "u1", sessionId: "same-id" });
      expect(await service.getSession({ appName: "a", userId: "u1", sessionId: "same-id" })).toBeUndefined();
      expect((await service.getSession({ appName: "a", userId: "u2", sessionId: "same-id" }))?.events).toHaveLength(1);
    });

    it("lists sessions back under ADK's own ids, per user or for the whole app, paged as ADK pages", async () => {
      const service = place.service();
      const odd = "conversation #1 / with spaces";
      await service.createSession({ appName: "my app!", userId: "ada@example.com", sessionId: odd });
      await service.createSession({ appName: "my app!", userId: "ada@example.com", sessionId: "two" });
      await service.createSession({ appName: "my app!", userId: "bob smith", sessionId: "three" });
      const ada = await service.listSessions({ appName: "my app!", userId: "ada@example.com" });
      expect(ada.sessions.map((s) => s.id).sort()).toEqual([odd, "two"].sort());
      expect(ada).toMatchObject({ page: 1, limit: 2, totalItems: 2, totalPages: 1 });
      const all = await service.listSessions({ appName: "my app!" });
      // Sessions created within one millisecond have no order of their own: compared as a set.
      expect(all.sessions.map((s) => `${s.userId}/${s.id}`).sort()).toEqual(
        [`ada@example.com/${odd}`, "ada@example.com/two", "bob smith/three"].sort(),
      );
      const pages = [1, 2].map((page) => service.listSessions({ appName: "my app!", limit: 2, page, order: "asc" }));
      const [firstPage, second] = await Promise.all(pages);
      expect(firstPage?.sessions).toHaveLength(2);
      expect(second).toMatchObject({ page: 2, limit: 2, totalItems: 3, totalPages: 2 });
      const paged = [...(firstPage?.sessions ?? []), ...(second?.sessions ?? [])].map((s) => s.id);
      expect(paged.sort()).toEqual([odd, "two", "three"].sort());
      expect((await service.getSession({ appName: "my app!", userId: "ada@example.com", sessionId: odd }))?.id).toBe(
        odd,
      );
      expect((await service.listSessions({ appName: "other" })).sessions).toEqual([]);
    });

    it("refuses a stale session object with a typed error and loses nothing, across two service instances", async () => {
      const first = place.service();
      const second = place.service();
      await first.createSession({ ...KEY });
      const mine = (await first.getSession(KEY)) as Session;
      const theirs = (await second.getSession(KEY)) as Session;
      const event = (id: string, n: number) =>
        createEvent({
          id,
          author: "user",
          timestamp: 1000 + n,
          content: { role: "user", parts: [{ text: id }] },
          actions: { stateDelta: { [id]: n, "user:last": id } },
        });
      await second.appendEvent({ session: theirs, event: event("b1", 1) });
      const before = structuredClone({ state: mine.state, events: mine.events });
      const refused = await first
        .appendEvent({ session: mine, event: event("a1", 2) })
        .catch((error: unknown) => error);
      expect(isStaleSessionError(refused)).toBe(true);
      expect(isFrontdeskError(refused, "precondition_failed")).toBe(true);
      expect({ state: mine.state, events: mine.events }).toEqual(before);
      const fresh = (await first.getSession(KEY)) as Session;
      expect(fresh.events.map((e) => e.id)).toEqual(["b1"]);
      await first.appendEvent({ session: fresh, event: event("a1", 2) });
      const final = (await second.getSession(KEY)) as Session;
      expect(final.events.map((e) => e.id)).toEqual(["b1", "a1"]);
      expect(final.state).toEqual({ b1: 1, a1: 2, "user:last": "a1" });
    });

    it("several writers racing through stale objects each land every event exactly once after re-reading", async () => {
      const services = [place.service(), place.service(), place.service()];
      await services[0]?.createSession({ ...KEY });
      const perWriter = 4;
      const refusals: number[] = [];
      await Promise.all(
        services.map(async (service, writer) => {
          let session = (await service.getSession(KEY)) as Session;
          for (let n = 0; n < perWriter; n++) {
            const id = `w${writer}n${n}`;
            for (;;) {
              try {
                await service.appendEvent({
                  session,
                  event: createEvent({
                    id,
                    author: "user",
                    content: { role: "user", parts: [{ text: id }] },
                    actions: { stateDelta: { [id]: true } },
                  }),
                });
                break;
              } catch (error) {
                if (!isStaleSessionError(error)) throw error;
                refusals.push(writer);
                session = (await service.getSession(KEY)) as Session;
              }
            }
          }
        }),
      );
      const final = (await services[1]?.getSession(KEY)) as Session;
      const ids = final.events.map((e) => e.id);
      expect(ids).toHaveLength(services.length * perWriter);
      expect(new Set(ids).size).toBe(ids.length);
      for (let writer = 0; writer < services.length; writer++) {
        const own = ids.filter((id) => id.startsWith(`w${writer}`));
        expect(own).toEqual([...Array(perWriter).keys()].map((n) => `w${writer}n${n}`));
      }
      expect(Object.keys(final.state)).toHaveLength(ids.length);
    });

    it("appends through one session object queue instead of refusing each other", async () => {
      const service = place.service();
      const session = await service.createSession({ ...KEY });
      await Promise.all(
        ["x", "y", "z"].map((id) =>
          service.appendEvent({
            session,
            event: createEvent({ id, author: "user", content: { role: "user", parts: [{ text: id }] } }),
          }),
        ),
      );
      expect(((await service.getSession(KEY)) as Session).events.map((e) => e.id)).toEqual(["x", "y", "z"]);
    });

    it("refuses bad input with a coded error and writes nothing", async () => {
      const service = place.service();
      const session = await service.createSession({ ...KEY, state: { kept: 1 } });
      const notJson = createEvent({ id: "bad", author: "user", actions: { stateDelta: { when: new Date(0) } } });
      const refused = await service.appendEvent({ session, event: notJson }).catch((error: unknown) => error);
      expect(isFrontdeskError(refused, "invalid_request")).toBe(true);
      expect(session.events).toEqual([]);
      const stored = (await service.getSession(KEY)) as Session;
      expect(stored.events).toEqual([]);
      expect(stored.state).toEqual({ kept: 1 });
      // The session object is still current: the refused call changed no version.
      await service.appendEvent({ session, event: createEvent({ id: "ok", author: "user" }) });

      const taken = await service.createSession({ ...KEY }).catch((error: unknown) => error);
      expect(isFrontdeskError(taken, "conflict")).toBe(true);
      const foreign = { ...KEY, id: KEY.sessionId, state: {}, events: [], lastUpdateTime: 0 };
      const unknown = await service
        .appendEvent({ session: foreign, event: createEvent({ id: "z" }) })
        .catch((e: unknown) => e);
      expect(isFrontdeskError(unknown, "invalid_request")).toBe(true);
      const window = await service.getSession({ ...KEY, config: { numRecentEvents: -1 } }).catch((e: unknown) => e);
      expect(isFrontdeskError(window, "invalid_request")).toBe(true);
      expect(((await service.getSession(KEY)) as Session).events.map((e) => e.id)).toEqual(["ok"]);
    });

    it("an event appended again under its id replaces the earlier one in place, as ADK's services do", async () => {
      const service = place.service();
      const reference = new InMemorySessionService();
      const text = (id: string, words: string, timestamp: number) =>
        createEvent({ id, author: "bot", timestamp, content: { role: "model", parts: [{ text: words }] } });
      const sessions: Session[] = [];
      for (const target of [service, reference]) {
        const session = await target.createSession({ ...KEY });
        for (const event of [
          text("a", "one", 1),
          text("b", "two", 2),
          text("a", "one, revised", 3),
          text("c", "three", 4),
        ]) {
          await target.appendEvent({ session, event });
        }
        sessions.push(session);
      }
      expect(sessions[0]?.events).toEqual(sessions[1]?.events);
      for (const config of [undefined, { numRecentEvents: 3 }]) {
        const got = await service.getSession({ ...KEY, config });
        expect(got?.events).toEqual((await reference.getSession({ ...KEY, config }))?.events);
      }
      expect(sessions[0]?.events.map((e) => e.id)).toEqual(["a", "b", "c"]);
    });

    it("getOrCreateSession returns the session another caller created concurrently", async () => {
      const [a, b] = [place.service(), place.service()];
      const [one, two] = await Promise.all([a.getOrCreateSession({ ...KEY }), b.getOrCreateSession({ ...KEY })]);
      expect(one.id).toBe(KEY.sessionId);
      expect(two.id).toBe(KEY.sessionId);
      await a.appendEvent({ session: one, event: createEvent({ id: "e", author: "user" }) });
      expect(((await b.getSession(KEY)) as Session).events).toHaveLength(1);
    });
  });
}

describe("FrontdeskSessionService, what Frontdesk's state model changes", () => {
  it("a null in stateDelta deletes the key (Frontdesk's delta semantics; ADK keeps a null value)", async () => {
    const service = new FrontdeskSessionService();
    const session = await service.createSession({ ...KEY, state: { gone: 1, stays: 2 } });
    await service.appendEvent({ session, event: createEvent({ id: "n", actions: { stateDelta: { gone: null } } }) });
    expect(((await service.getSession(KEY)) as Session).state).toEqual({ stays: 2 });
    await service.close();
  });
});
