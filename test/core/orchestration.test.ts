import { describe, expect, it } from "vitest";
import { FakeClock } from "../../src/core/clock.ts";
import { OrchestrationStateManager } from "../../src/core/orchestration-state.ts";
import { createMemoryStore } from "../../src/stores/memory/index.ts";

describe("OrchestrationStateManager", () => {
  it("creates state on first use and keeps only the last ten tools, newest first", async () => {
    const clock = new FakeClock();
    const orchestration = new OrchestrationStateManager({ store: createMemoryStore(), clock });
    expect(await orchestration.getState("s1")).toBeNull();
    const created = await orchestration.getOrCreateState("s1");
    expect(created).toMatchObject({ sessionId: "s1", recentlyUsedTools: [], sequenceIndex: 0 });
    expect(created.activeStep).toBeUndefined();
    for (let i = 0; i < 12; i++) await orchestration.addUsedTool("s1", `tool${i}`);
    const state = await orchestration.getState("s1");
    expect(state?.recentlyUsedTools).toEqual([
      "tool11",
      "tool10",
      "tool9",
      "tool8",
      "tool7",
      "tool6",
      "tool5",
      "tool4",
      "tool3",
      "tool2",
    ]);
  });

  it("tracks the active step, sequence index and cumulative token usage without losing concurrent updates", async () => {
    const orchestration = new OrchestrationStateManager({ store: createMemoryStore(), clock: new FakeClock() });
    await orchestration.getOrCreateState("s1");
    await orchestration.setActiveStep("s1", "research");
    await Promise.all([
      orchestration.advanceSequence("s1"),
      orchestration.advanceSequence("s1"),
      ...Array.from({ length: 20 }, () => orchestration.addTokenUsage("s1", { inputTokens: 10, outputTokens: 5 })),
    ]);
    const state = await orchestration.getState("s1");
    expect(state?.activeStep).toBe("research");
    expect(state?.sequenceIndex).toBe(2);
    expect(state?.cumulativeTokenUsage).toEqual({ inputTokens: 200, outputTokens: 100, totalTokens: 300 });
  });

  it("updates to a session without state return null instead of creating one", async () => {
    const orchestration = new OrchestrationStateManager({ store: createMemoryStore() });
    expect(await orchestration.updateState("missing", { activeStep: "x" })).toBeNull();
    expect(await orchestration.getState("missing")).toBeNull();
  });
});
