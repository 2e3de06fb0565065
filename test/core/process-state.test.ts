/**
 * `process:` state keys belong to a live process: every reader of the session sees them, but a
 * fork, an export or an import never carries them (the library path, on the memory store).
 */
import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { PROCESS_PREFIX } from "../../src/index.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";

const open = () => new SessionManager(() => ({}), createMemoryStore(), "default", { clock: new FakeClock() });

const collect = async (lines: AsyncIterable<string>): Promise<string[]> => {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
};

describe("process: state keys", () => {
  it("are stored and read like the session's own keys", async () => {
    const sessions = open();
    await sessions.create({ sessionId: "s1" });
    await sessions.appendEvents("s1", [{ type: "state", stateDelta: { "process:lock": { owner: "p1" }, kept: 1 } }]);
    expect(PROCESS_PREFIX).toBe("process:");
    expect((await sessions.get("s1")).state).toEqual({ "process:lock": { owner: "p1" }, kept: 1 });
  });

  it("are left out of a fork, at the last event and at an earlier seq", async () => {
    const sessions = open();
    await sessions.create({ sessionId: "s1" });
    await sessions.appendEvents("s1", [
      { type: "state", stateDelta: { "process:lock": { owner: "p1" }, kept: 1 } },
      { type: "state", stateDelta: { kept: 2 } },
    ]);
    expect((await sessions.fork("s1", { sessionId: "f1" })).state).toEqual({ kept: 2 });
    expect((await sessions.fork("s1", { sessionId: "f2", atSeq: 1 })).state).toEqual({ kept: 1 });
    expect((await sessions.get("f2")).state).toEqual({ kept: 1 });
  });

  it("are left out of an export, and out of an import whose header holds them", async () => {
    const sessions = open();
    await sessions.create({ sessionId: "s1", state: { kept: 1 } });
    await sessions.appendEvents("s1", [{ type: "state", stateDelta: { "process:lock": { owner: "p1" } } }]);
    const lines = await collect(sessions.exportSession("s1"));
    const header = JSON.parse(lines[0] as string) as { session: { state: object } };
    expect(header.session.state).toEqual({ kept: 1 });

    // An export written by hand (or by another tool) that does carry one.
    header.session.state = { kept: 1, "process:lock": { owner: "p1" } };
    const handMade = [JSON.stringify(header), ...lines.slice(1)];
    const imported = await sessions.importSession(handMade, { sessionId: "i1" });
    expect(imported.state).toEqual({ kept: 1 });
    expect((await sessions.get("i1")).state).toEqual({ kept: 1 });
  });
});
