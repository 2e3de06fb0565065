/**
 * Where `chat` and `run` get their agents: a store opened in this process (cli/agents.ts) or a
 * running server (cli/remote-agent.ts). Apart from both, so neither imports the other.
 */
import { type AgentBackend, type AgentCommandOptions, AgentWorkspace } from "./agents.ts";
import { UsageError } from "./failures.ts";
import type { CliIo } from "./io.ts";
import { RemoteWorkspace } from "./remote-agent.ts";
import { envValue } from "./targets/index.ts";

/**
 * `--server URL` (else `$FRONTDESK_SERVER` unless `--store` is given) with `--key` (else
 * `$FRONTDESK_KEY`): the server's agents; otherwise the store opened here, as `sessions` decides.
 */
export async function openAgentBackend(options: AgentCommandOptions, io: CliIo): Promise<AgentBackend> {
  if (options.store !== undefined && options.server !== undefined) {
    throw new UsageError("Use either --store or --server, not both");
  }
  const server = options.store === undefined ? (options.server ?? envValue(io, "FRONTDESK_SERVER")) : undefined;
  if (server === undefined) return AgentWorkspace.open(options, io);
  const key = options.key ?? envValue(io, "FRONTDESK_KEY");
  if (key === undefined) throw new UsageError("--server needs an API key: pass --key or set FRONTDESK_KEY");
  if (options.model !== undefined) {
    throw new UsageError("--model applies to agents run here: a server runs the models of its own config");
  }
  return RemoteWorkspace.open(server, key, options, io);
}
