import type { Command } from "commander";
import { encryptIfConfigured } from "../encryption.ts";
import type { CliIo } from "../io.ts";
import { storeUrlFrom } from "../targets/index.ts";

export function registerMcpCommand(program: Command, io: CliIo): void {
  program
    .command("mcp")
    .description("serve your sessions to an MCP client (tools and resources) over stdio")
    .option("--store <url>", "the store (default: $FRONTDESK_STORE, else sqlite:./.frontdesk/frontdesk.db)")
    .option("--user <id>", "whose sessions the tools act on (default: $FRONTDESK_USER, else local)")
    .option("--namespace <name>", "namespace (default: default)")
    .action(async (options: { store?: string; user?: string; namespace?: string }) => {
      // Loaded only here, so other commands never load the MCP SDK.
      const { runStdioServer } = await import("../../mcp/stdio.ts");
      const storeUrl = storeUrlFrom(options, io);
      // Opened here so that it is sealed at rest when encryption is configured, as for `serve`.
      const { openStore } = await import("../../stores/registry.ts");
      const { store } = await encryptIfConfigured(await openStore(storeUrl), io, undefined, storeUrl);
      try {
        await runStdioServer({ store, userId: options.user, namespace: options.namespace, io });
      } finally {
        await store.close();
      }
    });
}
