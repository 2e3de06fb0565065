// The chat's slash commands: what each one does, its `/help` line and its tab completion. A new
// command is a row in CHAT_COMMANDS and a case in runCommand, nothing else.
import type { PendingApproval } from "../../agent/approvals.ts";
import { FrontdeskError } from "../../core/errors.ts";
import { type AgentBackend, describeCall } from "../agents.ts";
import { agentColor } from "../colors.ts";
import { UsageError } from "../failures.ts";
import type { CliIo } from "../io.ts";
import { createOutputFile, writeChunk } from "../streams.ts";
import { formatTime, renderTable, truncate } from "../table.ts";
import type { ChatScreen } from "./screen.ts";
import type { Conversation } from "./session.ts";

/** The REPL's commands, for `/help` and tab completion. */
export const CHAT_COMMANDS: readonly (readonly [string, string])[] = [
  ["/help", "this help"],
  ["/exit", "leave (also Ctrl-D)"],
  ["/sessions", "your recent sessions"],
  ["/resume ID", "continue another of your sessions"],
  ["/new", "start a new session"],
  ["/agent [NAME]", "switch agents in this conversation (no name: list the agents)"],
  ["/fork", "fork this session at its last event and continue in the fork"],
  ["/export [FILE]", "write this session as NDJSON to FILE (else here)"],
  ["/approve [ID]", "approve a pending tool call"],
  ["/deny [ID] [REASON]", "deny a pending tool call"],
];

/** What the commands act on. */
export interface ChatContext {
  readonly io: CliIo;
  readonly workspace: AgentBackend;
  readonly screen: ChatScreen;
  readonly conversation: Conversation;
}

/** Runs the command line `text` (it starts with `/`); `"leave"` when the chat should end. */
export async function runCommand(chat: ChatContext, text: string): Promise<"leave" | undefined> {
  const { workspace, conversation } = chat;
  const [name = "", ...args] = text.split(/\s+/);
  const rest = text.slice(name.length).trim();
  switch (name.toLowerCase()) {
    case "/help":
    case "/?":
      help(chat.screen);
      return;
    case "/exit":
    case "/quit":
      return "leave";
    case "/sessions":
      await listSessions(chat);
      return;
    case "/resume": {
      if (args.length !== 1) throw new UsageError("usage: /resume ID (/sessions lists them)");
      const id = args[0] as string;
      if (id === conversation.sessionId) throw new UsageError(`This is session ${id} already`);
      await workspace.sessions.get(id);
      const agent = (await workspace.lastAgentOf(id)) ?? conversation.agentName;
      await conversation.attach(id, agent, { created: false });
      return;
    }
    case "/new": {
      const session = await workspace.sessions.create();
      await conversation.attach(session.id, conversation.agentName, { created: true });
      return;
    }
    case "/agent":
      if (args.length === 0) {
        listAgents(chat);
        return;
      }
      await switchAgent(chat, args[0] as string);
      return;
    case "/fork": {
      const source = conversation.sessionId;
      const fork = await workspace.sessions.fork(source);
      chat.screen.line(`forked session ${source} at #${fork.lastSeq}`);
      await conversation.attach(fork.id, conversation.agentName, { created: false });
      return;
    }
    case "/export":
      await exportSession(chat, rest === "" ? undefined : rest);
      return;
    case "/approve":
      await answerPending(chat, "approve", args);
      return;
    case "/deny":
      await answerPending(chat, "deny", args);
      return;
    default:
      throw new FrontdeskError(
        "invalid_request",
        `Unknown command ${name}: /help lists the commands (start with // to send a message beginning with /)`,
      );
  }
}

/** Tab completion: command names, and after `/agent ` the configured agents. */
export function completeCommand(line: string, agents: Readonly<Record<string, unknown>>): [string[], string] {
  if (line.startsWith("/agent ")) {
    const prefix = line.slice("/agent ".length);
    const names = Object.keys(agents).filter((name) => name.startsWith(prefix));
    return [names, prefix];
  }
  if (!line.startsWith("/") || /\s/.test(line)) return [[], line];
  const names = CHAT_COMMANDS.map(([usage]) => usage.split(" ")[0] as string).filter((name) => name.startsWith(line));
  return [names, line];
}

function help(screen: ChatScreen): void {
  const width = Math.max(...CHAT_COMMANDS.map(([usage]) => usage.length));
  for (const [usage, what] of CHAT_COMMANDS) screen.line(`  ${usage.padEnd(width)}  ${what}`);
  screen.line(
    screen.palette.dim(
      "  Ctrl-C cancels a running turn (its partial reply is kept); at the prompt, twice exits. Ctrl-D exits.",
    ),
  );
  screen.line(screen.palette.dim("  Start a message with // to send text that begins with /."));
}

async function listSessions({ workspace, screen, conversation }: ChatContext): Promise<void> {
  const page = await workspace.sessions.listSessions({ orderBy: "updatedAt", order: "desc", limit: 10 });
  if (page.items.length === 0) {
    screen.line("no sessions");
    return;
  }
  const rows = page.items.map((session) => [
    session.id === conversation.sessionId ? "*" : " ",
    session.id,
    formatTime(session.updatedAt),
    String(session.lastSeq),
    truncate(session.title ?? "-", 50),
  ]);
  for (const row of renderTable(["", "ID", "UPDATED", "EVENTS", "TITLE"], rows)) screen.line(row);
  if (page.nextCursor !== null) screen.line(screen.palette.dim("(older sessions: frontdesk sessions list --user …)"));
}

function listAgents({ workspace, screen, conversation }: ChatContext): void {
  const { palette } = screen;
  if (workspace.listedAgents() === undefined) {
    screen.line(`agent ${conversation.agentLabel()}`);
    screen.line(palette.dim("(the server's config says which agents it runs: /agent NAME switches to one)"));
    return;
  }
  for (const [name, agent] of Object.entries(workspace.config.agents)) {
    const mark = name === conversation.agentName ? "*" : " ";
    const label = palette.paint(agentColor(name, agent.color), name);
    screen.line(`${mark} ${label}${agent.description ? `  ${palette.dim(agent.description)}` : ""}`);
  }
}

async function switchAgent({ screen, conversation }: ChatContext, name: string): Promise<void> {
  if (name === conversation.agentName) {
    screen.line(`agent ${conversation.agentLabel()} already`);
    return;
  }
  await conversation.switchAgent(name);
  screen.line(`agent ${conversation.agentLabel()}`);
}

async function exportSession(
  { io, workspace, screen, conversation }: ChatContext,
  file: string | undefined,
): Promise<void> {
  const lines = workspace.sessions.exportSession(conversation.sessionId);
  if (file === undefined) {
    screen.newline();
    for await (const line of lines) await writeChunk(io.stdout, `${line}\n`);
    return;
  }
  const output = await createOutputFile(file);
  let events = -1;
  try {
    for await (const line of lines) {
      await writeChunk(output.stream, `${line}\n`);
      events++;
    }
    await output.commit();
  } catch (error) {
    await output.discard();
    throw error;
  }
  screen.line(`exported ${events} events to ${file}`);
}

/** `/approve [ID]`, `/deny [ID] [REASON]` at the prompt: answers a request waiting in this session. */
async function answerPending(
  { screen, conversation }: ChatContext,
  decision: "approve" | "deny",
  args: readonly string[],
): Promise<void> {
  const { agent } = conversation;
  const pending = await agent.pendingApprovals();
  let target: PendingApproval | undefined;
  let reasonWords = args;
  const named = args[0] === undefined ? undefined : pending.find((item) => item.approvalId === args[0]);
  if (named) {
    target = named;
    reasonWords = args.slice(1);
  } else if (args[0]?.startsWith("apr_")) {
    throw new FrontdeskError("not_found", `No pending approval ${args[0]} in this session`);
  } else if (pending.length === 1) {
    target = pending[0];
  } else if (pending.length === 0) {
    screen.line("no pending approvals");
    return;
  } else {
    for (const item of pending) screen.line(`  ${item.approvalId}  ${describeCall(item.tool, item.input)}`);
    throw new UsageError(`${pending.length} approvals are pending: name one (/${decision} ID)`);
  }
  if (!target) return;
  const reason = decision === "deny" && reasonWords.length > 0 ? reasonWords.join(" ") : undefined;
  if (decision === "approve") await agent.approve(target.approvalId);
  else await agent.deny(target.approvalId, reason);
  screen.line(`${decision === "approve" ? "approved" : "denied"} ${describeCall(target.tool, target.input)}`);
}
