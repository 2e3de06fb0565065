/**
 * The checks a schema alone cannot make (references between sections: an agent's model, prompt,
 * tools and steps must exist), and the `invalid_request` error that names each issue by its JSON
 * path, e.g. `agents.helper.model: unknown model "gpt9"`.
 */
import { FrontdeskError } from "../core/errors.ts";
import { CONFIG_ENV } from "./config-env.ts";
import { isBuiltinTool, type ValidatedConfig } from "./config-schema.ts";

interface Issue {
  path: readonly PropertyKey[];
  message: string;
}

/** References between sections, which a schema alone cannot check. */
export function crossCheck(config: ValidatedConfig): Issue[] {
  const issues: Issue[] = [];
  const add = (path: PropertyKey[], message: string) => issues.push({ path, message });
  if (!Object.hasOwn(config.agents, config.defaultAgent)) {
    add(["defaultAgent"], `unknown agent "${config.defaultAgent}"`);
  }
  for (const [name, model] of Object.entries(config.models)) {
    if (model.provider === "openai-compatible" && model.baseUrl === undefined) {
      add(["models", name, "baseUrl"], `required for an openai-compatible model (or set ${CONFIG_ENV.baseUrl})`);
    }
    if (model.maxOutputTokens !== undefined && model.maxOutputTokens >= model.contextWindow) {
      add(["models", name, "maxOutputTokens"], "must be smaller than contextWindow");
    }
  }
  for (const [name, tool] of Object.entries(config.tools)) {
    const builtin = isBuiltinTool(name);
    if (builtin && tool.command !== undefined) add(["tools", name, "command"], `"${name}" is built in: no command`);
    if (builtin && tool.parameters !== undefined) {
      add(["tools", name, "parameters"], `"${name}" is built in: its parameters are fixed`);
    }
    if (!builtin && tool.enabled !== undefined) add(["tools", name, "enabled"], "only the shell tool has `enabled`");
    if (tool.timeZone !== undefined) {
      if (name !== "clock") add(["tools", name, "timeZone"], "only the clock tool has `timeZone`");
      else if (!validTimeZone(tool.timeZone)) add(["tools", name, "timeZone"], `unknown time zone "${tool.timeZone}"`);
    }
    if (tool.parameters !== undefined && tool.parameters.type !== undefined && tool.parameters.type !== "object") {
      add(["tools", name, "parameters", "type"], 'a tool\'s parameters are an object schema (type "object")');
    }
  }
  for (const [name, agent] of Object.entries(config.agents)) {
    const at = (...rest: PropertyKey[]) => ["agents", name, ...rest];
    if (!Object.hasOwn(config.models, agent.model)) add(at("model"), `unknown model "${agent.model}"`);
    if (agent.prompt !== undefined && agent.systemPrompt !== undefined) {
      add(at("prompt"), "give either prompt or systemPrompt, not both");
    }
    if (agent.prompt !== undefined && !Object.hasOwn(config.prompts, agent.prompt)) {
      add(at("prompt"), `unknown prompt "${agent.prompt}"`);
    }
    const model = config.models[agent.model];
    if (model && agent.contextTokens !== undefined && agent.contextTokens > model.contextWindow) {
      add(at("contextTokens"), `larger than the contextWindow of model "${agent.model}" (${model.contextWindow})`);
    }
    const tools = new Set(agent.tools);
    agent.tools.forEach((tool, i) => {
      const declared = config.tools[tool];
      if (!declared) add(at("tools", i), `unknown tool "${tool}"`);
      else if (tool === "shell" && declared.enabled !== true) {
        add(at("tools", i), "the shell tool is disabled: set tools.shell.enabled to true to offer it");
      }
    });
    if (tools.size !== agent.tools.length) add(at("tools"), "a tool is listed twice");
    for (const tool of Object.keys(agent.approval ?? {})) {
      if (!tools.has(tool)) add(at("approval", tool), `"${tool}" is not one of this agent's tools`);
    }
    const stepNames = new Set<string>();
    (agent.steps ?? []).forEach((step, i) => {
      if (stepNames.has(step.name)) add(at("steps", i, "name"), `duplicate step "${step.name}"`);
      stepNames.add(step.name);
      (step.tools ?? []).forEach((tool, j) => {
        if (!tools.has(tool)) add(at("steps", i, "tools", j), `"${tool}" is not one of this agent's tools`);
      });
      (step.sequence ?? []).forEach((tool, j) => {
        if (!tools.has(tool)) add(at("steps", i, "sequence", j), `"${tool}" is not one of this agent's tools`);
      });
      if (step.next?.afterTool !== undefined && !tools.has(step.next.afterTool)) {
        add(at("steps", i, "next", "afterTool"), `"${step.next.afterTool}" is not one of this agent's tools`);
      }
      if (step.next && step.next.afterTool === undefined && step.next.when === undefined) {
        add(at("steps", i, "next"), "give afterTool, when, or both");
      }
    });
    (agent.steps ?? []).forEach((step, i) => {
      const to = step.next?.to;
      if (to !== undefined && !stepNames.has(to)) add(at("steps", i, "next", "to"), `unknown step "${to}"`);
      if (step.next && to === undefined && i === (agent.steps?.length ?? 0) - 1) {
        add(at("steps", i, "next", "to"), "the last step has no following step: name one");
      }
    });
  }
  return issues;
}

const validTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

/** `agents.helper.tools[2]` */
export const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`;
    const part = String(key);
    return text === "" ? part : `${text}.${part}`;
  }, "");

export function configError(issues: readonly Issue[]): FrontdeskError {
  const shown = issues.slice(0, 5).map((issue) => {
    const path = formatPath(issue.path);
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : "";
  return new FrontdeskError("invalid_request", `Invalid config: ${shown.join("; ")}${more}`, {
    details: { issues: issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })) },
  });
}
