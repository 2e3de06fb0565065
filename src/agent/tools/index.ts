import { asSchema, jsonSchema } from "ai";
import { z } from "zod";
import type { Clock } from "../../core/clock.ts";
import { FrontdeskError } from "../../core/errors.ts";
import {
  type AgentConfigView,
  approvalPolicyOf,
  type FrontdeskConfig,
  isBuiltinTool,
  type ToolConfigView,
} from "../config.ts";
import { CALCULATOR_CONSTANTS, CALCULATOR_FUNCTIONS, evaluateExpression } from "./calculator.ts";
import { clockInputSchema, createClockTool } from "./clock.ts";
import { createCommandTool } from "./declared.ts";
import { createRecallTool, recallInputSchema } from "./recall.ts";
import { createShellTool, shellInputSchema } from "./shell.ts";
import type { AgentTool, ToolHandler } from "./types.ts";

export { evaluateExpression } from "./calculator.ts";
export { type CommandOptions, type CommandResult, runCommand } from "./command.ts";
export type { AgentTool, ToolContext, ToolHandler } from "./types.ts";

export const calculatorInputSchema = z.strictObject({
  expression: z.string().min(1).max(1000).describe("An arithmetic expression, e.g. (2 + 3) * 4 ^ 2 / sqrt(16)"),
});

const calculatorTool: ToolHandler = (input) => {
  const { expression } = calculatorInputSchema.parse(input);
  return { expression, result: evaluateExpression(expression) };
};

const DESCRIPTIONS = {
  clock: "The current date and time (UTC, and in a time zone if asked).",
  calculator: `Evaluates arithmetic exactly: + - * / % ^ !, parentheses, unary minus, constants ${CALCULATOR_CONSTANTS.join(", ")} and functions ${CALCULATOR_FUNCTIONS.join(", ")}.`,
  recall:
    "Searches the user's earlier conversations (their own sessions only) for messages containing the given words.",
  shell: "Runs a shell command line and returns its exit code, stdout and stderr.",
} as const;

export interface BuildToolsOptions {
  clock?: Clock;
  /** Implementations of declared tools that have no `command`, by name. */
  handlers?: Readonly<Record<string, ToolHandler>>;
}

/**
 * The tools of one agent, built from the config: built-ins (clock, calculator, recall, shell) and
 * declared ones (a `command`, or a handler given in code). Throws `invalid_request` when a declared
 * tool has no implementation.
 */
export function buildAgentTools(
  config: FrontdeskConfig,
  agent: AgentConfigView,
  options: BuildToolsOptions = {},
): Map<string, AgentTool> {
  const tools = new Map<string, AgentTool>();
  for (const name of agent.tools) {
    const settings = config.tools[name] as ToolConfigView;
    const approval = approvalPolicyOf(config, agent, name);
    const { inputSchema, ...rest } = implementation(name, settings, options);
    // Converted once here: the AI SDK derives a JSON Schema from a Zod one at every model call
    // otherwise, and a Schema object keeps the one it derived.
    tools.set(name, { name, approval, inputSchema: asSchema(inputSchema), ...rest });
  }
  return tools;
}

function implementation(
  name: string,
  settings: ToolConfigView,
  options: BuildToolsOptions,
): Pick<AgentTool, "description" | "inputSchema" | "execute"> {
  const handler = options.handlers?.[name];
  if (isBuiltinTool(name)) {
    const description = settings.description ?? DESCRIPTIONS[name];
    switch (name) {
      case "clock":
        return {
          description,
          inputSchema: clockInputSchema,
          execute: handler ?? createClockTool({ clock: options.clock, timeZone: settings.timeZone }),
        };
      case "calculator":
        return { description, inputSchema: calculatorInputSchema, execute: handler ?? calculatorTool };
      case "recall":
        return { description, inputSchema: recallInputSchema, execute: handler ?? createRecallTool() };
      case "shell":
        if (settings.enabled !== true) {
          throw new FrontdeskError("invalid_request", "tools.shell: the shell tool is disabled (set enabled: true)");
        }
        return {
          description,
          inputSchema: shellInputSchema,
          execute:
            handler ??
            createShellTool({
              cwd: settings.cwd,
              timeoutMs: settings.timeoutMs,
              maxOutputBytes: settings.maxOutputBytes,
            }),
        };
    }
  }
  const execute =
    handler ??
    (settings.command !== undefined
      ? createCommandTool(name, settings.command, {
          cwd: settings.cwd,
          timeoutMs: settings.timeoutMs,
          maxOutputBytes: settings.maxOutputBytes,
        })
      : undefined);
  if (!execute) {
    throw new FrontdeskError(
      "invalid_request",
      `tools.${name}: a declared tool needs a command, or a handler passed to the AgentSession`,
    );
  }
  return {
    description: settings.description ?? `The ${name} tool.`,
    inputSchema: jsonSchema(
      (settings.parameters as Parameters<typeof jsonSchema>[0] | undefined) ?? {
        type: "object",
        properties: {},
        additionalProperties: true,
      },
    ),
    execute,
  };
}
