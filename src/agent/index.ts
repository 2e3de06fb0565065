/**
 * Agents inside sessions: configuration, models (OpenAI, OpenAI-compatible, Anthropic and a
 * deterministic offline model), tools with approval policies, orchestration steps, and the
 * AgentSession that runs turns and writes everything to the session's event log.
 */

export {
  AgentSession,
  type AgentSessionOptions,
  type RunTurnOptions,
  readAgentRecord,
  type TurnInput,
} from "./agent-session.ts";
export { AGENT_STATE_KEY, processStateKey, readAgentState } from "./agent-state.ts";
export {
  type ApprovalDecision,
  type ApprovalOptions,
  type PendingApproval,
  pendingApprovals,
  respondToApproval,
  waitForApproval,
} from "./approvals.ts";
export {
  isCancelFor,
  requestTurnCancel,
  TURN_CANCEL_EVENT,
  type TurnCancelRequest,
  watchForCancel,
} from "./cancel.ts";
export {
  type AgentConfig,
  type AgentConfigView,
  APPROVAL_POLICIES,
  type ApprovalPolicy,
  agentConfigFrom,
  agentConfigOf,
  approvalPolicyOf,
  BUILTIN_TOOLS,
  CONFIG_ENV,
  DEFAULT_CONFIG,
  DEFAULT_CONFIG_FILE,
  DEFAULT_CONFIG_INPUT,
  type Env,
  type FrontdeskConfig,
  type FrontdeskConfigInput,
  isParsedConfig,
  type LoadConfigOptions,
  loadConfig,
  MODEL_PROVIDERS,
  type ModelConfig,
  type ModelProvider,
  parseConfig,
  SERVER_CONFIG_KEYS,
  type StepConfig,
  type SummarizationConfig,
  systemPromptOf,
  type ToolConfig,
} from "./config.ts";
export {
  buildContextWindow,
  type ContextWindow,
  HistoryWindow,
  planSummary,
  type SummaryPlan,
  toModelMessage,
} from "./context.ts";
export { MODEL_FAILURE_CODES, type ModelFailureCode } from "./model-failure.ts";
export {
  costOf,
  OfflineLanguageModel,
  type OfflineModelOptions,
  type ResolvedModel,
  type ResolveModelOptions,
  resolveModel,
  SUMMARY_INSTRUCTION,
  summarize,
} from "./models/index.ts";
export { conditionHolds, StepOrchestrator, type StepTransition } from "./orchestration.ts";
export { findOrphans, type Orphan } from "./recovery.ts";
export { countTokens, countTokensAsync, MAX_PIECE_CHARS } from "./tokens.ts";
export {
  type AgentTool,
  buildAgentTools,
  evaluateExpression,
  runCommand,
  type ToolContext,
  type ToolHandler,
} from "./tools/index.ts";
export {
  AGENT_PHASES,
  type AgentPhase,
  type AgentStateRecord,
  type AgentStreamEvent,
  type AgentTurnLock,
  type TurnFinish,
  type TurnResult,
  type TurnUsage,
} from "./types.ts";
