import {
  BaseLlm,
  type BaseLlmConnection,
  type Event,
  FunctionTool,
  InMemorySessionService,
  LlmAgent,
  type LlmRequest,
  type LlmResponse,
  Runner,
} from "@google/adk";
import type { Content } from "@google/genai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { FrontdeskSessionService } from "../../src/adapters/adk/index.ts";
import { PLACES, type Place } from "./adk-places.ts";

/**
 * A real ADK `Runner` over many turns, each with a function tool call, produces the same events,
 * state and model inputs on Frontdesk as on ADK's own InMemorySessionService. Half-way through,
 * the Frontdesk side continues on a fresh service instance (as after a restart), so the second
 * half reads everything back from the store.
 */

/** A model that reads its input: a user's "add A B" becomes a call of `add`, the call's result becomes the answer. */
class ScriptedModel extends BaseLlm {
  readonly requests: Content[][] = [];

  constructor() {
    super({ model: "scripted-adder" });
  }

  async *generateContentAsync(request: LlmRequest): AsyncGenerator<LlmResponse, void> {
    this.requests.push(structuredClone(request.contents));
    const last = request.contents.at(-1);
    const response = last?.parts?.find((part) => part.functionResponse)?.functionResponse;
    if (response) {
      const sum = (response.response as { sum: number }).sum;
      yield {
        content: { role: "model", parts: [{ text: `The sum is ${sum}.` }] },
        usageMetadata: { promptTokenCount: 20 + sum, candidatesTokenCount: 6, totalTokenCount: 26 + sum },
      };
      return;
    }
    const [a, b] = (last?.parts?.[0]?.text ?? "").split(" ").slice(1).map(Number);
    yield {
      content: { role: "model", parts: [{ text: "Adding." }, { functionCall: { name: "add", args: { a, b } } }] },
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 3, totalTokenCount: 13 },
    };
  }

  connect(): Promise<BaseLlmConnection> {
    throw new Error("the scripted model has no live mode");
  }
}

function agentWith(model: ScriptedModel): LlmAgent {
  const add = new FunctionTool({
    name: "add",
    description: "Adds two numbers",
    parameters: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }, context) => {
      const state = context?.state;
      state?.set("lastSum", a + b);
      state?.set("user:total", ((state.get("user:total") as number | undefined) ?? 0) + a + b);
      state?.set("app:calls", ((state.get("app:calls") as number | undefined) ?? 0) + 1);
      state?.set("temp:scratch", a * b);
      return { sum: a + b };
    },
  });
  return new LlmAgent({ name: "adder", model, instruction: "Add numbers.", tools: [add], outputKey: "answer" });
}

const APP = "adder-app";
const USER = "grace";
const SESSION = "conversation-1";
const TURNS = 24;

async function runTurns(
  service: FrontdeskSessionService | InMemorySessionService,
  model: ScriptedModel,
  from: number,
  to: number,
): Promise<void> {
  const runner = new Runner({ appName: APP, agent: agentWith(model), sessionService: service });
  for (let turn = from; turn < to; turn++) {
    const stream = runner.runAsync({
      userId: USER,
      sessionId: SESSION,
      newMessage: { role: "user", parts: [{ text: `add ${turn} ${turn + 1}` }] },
      // Every fifth turn also carries a state delta of its own, with every prefix.
      stateDelta: turn % 5 === 0 ? { turnMark: turn, "temp:mark": true, "user:marks": turn } : undefined,
    });
    for await (const _ of stream) {
      // Draining the stream runs the turn; its events are compared from the stores afterwards.
    }
  }
}

/**
 * What ADK draws at random, replaced by the order each value first appears in: event ids and
 * invocation ids (8 random characters / a UUID per invocation) and the `adk-<uuid>` ids ADK gives
 * function calls the model left unnamed. Equal ids stay equal, so a function response still names
 * its own call and every event of a turn still shares one invocation. Timestamps (`Date.now()` when
 * each event was made) are checked to be non-decreasing, then set to 0. Nothing else is changed.
 */
function normalize(value: unknown): unknown {
  const names = new Map<string, string>();
  const canonical = (kind: string, raw: unknown) => {
    const key = `${kind}:${String(raw)}`;
    if (!names.has(key)) names.set(key, `${kind}#${names.size}`);
    return names.get(key);
  };
  let lastTimestamp = 0;
  const walk = (node: unknown, key: string | undefined, inEvent: boolean): unknown => {
    if (Array.isArray(node)) return node.map((item) => walk(item, undefined, false));
    if (node === null || typeof node !== "object") {
      if (inEvent && key === "id") return canonical("event", node);
      if (key === "invocationId") return canonical("invocation", node);
      if (inEvent && key === "timestamp") {
        expect(node as number).toBeGreaterThanOrEqual(lastTimestamp);
        lastTimestamp = node as number;
        return 0;
      }
      if (key === "callId") return canonical("call", node);
      return node;
    }
    const record = node as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const isEvent = key === undefined && "invocationId" in record;
    for (const [field, member] of Object.entries(record)) {
      if ((field === "functionCall" || field === "functionResponse") && member && typeof member === "object") {
        const { id, ...rest } = member as Record<string, unknown>;
        out[field] = { ...(walk(rest, field, false) as object), id: canonical("call", id) };
      } else {
        out[field] = walk(member, field, isEvent);
      }
    }
    return out;
  };
  return walk(value, undefined, false);
}

for (const kind of PLACES) {
  describe.skipIf(!kind.available)(`an ADK Runner on FrontdeskSessionService (${kind.name})`, () => {
    let place: Place;
    beforeEach(() => {
      place = kind.open();
    });
    afterEach(async () => {
      await place.close();
    });

    it(`${TURNS} turns with a tool call each give the same events, state and model inputs as InMemorySessionService`, async () => {
      const reference = new InMemorySessionService();
      const referenceModel = new ScriptedModel();
      await reference.createSession({ appName: APP, userId: USER, sessionId: SESSION, state: { started: 1 } });
      await runTurns(reference, referenceModel, 0, TURNS);

      const model = new ScriptedModel();
      const first = place.service();
      await first.createSession({ appName: APP, userId: USER, sessionId: SESSION, state: { started: 1 } });
      await runTurns(first, model, 0, TURNS / 2);
      // A fresh service on the same store: the rest of the conversation is read back from it.
      await runTurns(place.service(), model, TURNS / 2, TURNS);

      const theirs = (await reference.getSession({ appName: APP, userId: USER, sessionId: SESSION })) as {
        events: Event[];
        state: Record<string, unknown>;
      };
      const ours = (await place.service().getSession({ appName: APP, userId: USER, sessionId: SESSION })) as {
        events: Event[];
        state: Record<string, unknown>;
      };
      expect(theirs.events).toHaveLength(TURNS * 4);
      expect(normalize(ours.events)).toEqual(normalize(theirs.events));
      expect(ours.state).toEqual(theirs.state);
      expect(ours.state).toMatchObject({ answer: `The sum is ${2 * TURNS - 1}.`, "app:calls": TURNS, turnMark: 20 });
      expect(Object.keys(ours.state).some((key) => key.startsWith("temp:"))).toBe(false);
      expect(normalize(model.requests)).toEqual(normalize(referenceModel.requests));

      const recent = await place.service().getSession({
        appName: APP,
        userId: USER,
        sessionId: SESSION,
        config: { numRecentEvents: 6 },
      });
      expect(normalize(recent?.events)).toEqual(normalize(theirs.events.slice(-6)));

      // On Frontdesk's side it is a conversation: messages, tool calls and their results.
      const sessions = (await place.manager()).forNamespace(APP).forUser(USER);
      const stats = await sessions.getStatistics(SESSION);
      expect(stats).toMatchObject({ messages: TURNS * 4, toolCalls: TURNS, toolErrors: 0, toolsUsed: ["add"] });
    });
  });
}
