import { FrontdeskError } from "./errors.ts";
import { SessionManager, type SessionManagerOptions, type SessionRef } from "./session-manager.ts";
import type { SessionStore } from "./store-contract.ts";

/** What AgentDock's orchestration remembers per session. */
export interface OrchestrationState {
  sessionId: string;
  /**
   * The step whose tools are currently available; absent before any step is entered (a top-level
   * `null` in state means "delete the key", so absence is how "none" is stored).
   */
  activeStep?: string;
  /** Newest first, at most {@link RECENT_TOOLS_LIMIT}. */
  recentlyUsedTools: string[];
  /** Position in the active step's tool sequence. */
  sequenceIndex: number;
  cumulativeTokenUsage: { inputTokens: number; outputTokens: number; totalTokens: number };
  /** Epoch ms of the last change. */
  lastAccessed: number;
}

export const RECENT_TOOLS_LIMIT = 10;

export const createDefaultOrchestrationState = (sessionId: string, now = Date.now()): OrchestrationState => ({
  sessionId,
  recentlyUsedTools: [],
  sequenceIndex: 0,
  cumulativeTokenUsage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
  lastAccessed: now,
});

export interface OrchestrationStateManagerOptions extends SessionManagerOptions {
  store: SessionStore;
  /** @default "orchestration-state" (AgentDock's namespace) */
  namespace?: string;
}

/**
 * Keeps orchestration state (active step, recent tools, sequence index, token usage) in its own
 * session namespace through a {@link SessionManager}, so every change is an atomic, retried update:
 * concurrent tool completions never drop one another.
 */
export class OrchestrationStateManager {
  readonly sessions: SessionManager<OrchestrationState>;
  private readonly now: () => number;

  constructor(options: OrchestrationStateManagerOptions) {
    const { store, namespace = "orchestration-state", ...managerOptions } = options;
    this.now = () => (options.clock ?? { now: Date.now }).now();
    this.sessions = new SessionManager<OrchestrationState>(
      (sessionId) => createDefaultOrchestrationState(sessionId, this.now()),
      store,
      namespace,
      managerOptions,
    );
  }

  /** The state, created on first use (AgentDock's conditional creation). */
  async getOrCreateState(ref: SessionRef): Promise<OrchestrationState> {
    const id = typeof ref === "string" ? ref : ref.id;
    const created = await this.sessions.createSession({
      sessionId: id,
      userId: typeof ref === "string" ? undefined : ref.userId,
    });
    if (!created.success) throw new FrontdeskError(created.error.code, created.error.message);
    return created.data;
  }

  /** The state, or null when the session has none. */
  async getState(ref: SessionRef): Promise<OrchestrationState | null> {
    const result = await this.sessions.getSession(ref);
    return result.success ? result.data : null;
  }

  /** Merges `updates` atomically; null when the session has no state. */
  async updateState(ref: SessionRef, updates: Partial<OrchestrationState>): Promise<OrchestrationState | null> {
    const result = await this.sessions.updateSession(ref, (current) => ({
      ...current,
      ...updates,
      lastAccessed: this.now(),
    }));
    return result.success ? result.data : null;
  }

  /** Puts `toolName` first in `recentlyUsedTools`, keeping the last ten. */
  async addUsedTool(ref: SessionRef, toolName: string): Promise<OrchestrationState | null> {
    const result = await this.sessions.updateSession(ref, (current) => ({
      ...current,
      recentlyUsedTools: [toolName, ...current.recentlyUsedTools].slice(0, RECENT_TOOLS_LIMIT),
      lastAccessed: this.now(),
    }));
    return result.success ? result.data : null;
  }

  /** Enters a step (its sequence restarts at 0), or leaves every step with `null`. */
  async setActiveStep(ref: SessionRef, step: string | null): Promise<OrchestrationState | null> {
    const result = await this.sessions.updateSession(ref, (current) => {
      const { activeStep: _left, ...rest } = current;
      return step === null
        ? { ...rest, sequenceIndex: 0, lastAccessed: this.now() }
        : { ...rest, activeStep: step, sequenceIndex: 0, lastAccessed: this.now() };
    });
    return result.success ? result.data : null;
  }

  async advanceSequence(ref: SessionRef): Promise<OrchestrationState | null> {
    const result = await this.sessions.updateSession(ref, (current) => ({
      ...current,
      sequenceIndex: current.sequenceIndex + 1,
      lastAccessed: this.now(),
    }));
    return result.success ? result.data : null;
  }

  /** Adds a turn's token usage to the running total. */
  async addTokenUsage(
    ref: SessionRef,
    usage: { inputTokens?: number; outputTokens?: number },
  ): Promise<OrchestrationState | null> {
    const result = await this.sessions.updateSession(ref, (current) => {
      const inputTokens = current.cumulativeTokenUsage.inputTokens + (usage.inputTokens ?? 0);
      const outputTokens = current.cumulativeTokenUsage.outputTokens + (usage.outputTokens ?? 0);
      return {
        ...current,
        cumulativeTokenUsage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
        lastAccessed: this.now(),
      };
    });
    return result.success ? result.data : null;
  }

  async resetState(ref: SessionRef): Promise<boolean> {
    return (await this.sessions.deleteSession(ref)).success;
  }
}
