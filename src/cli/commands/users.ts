import type { Command } from "commander";
import { assertUserId } from "../../core/ids.ts";
import { type CliIo, writeLine } from "../io.ts";
import { openDirectTarget, type TargetOptions } from "../targets/index.ts";

/** `frontdesk users erase`: the erasure of one user, on a store (docs/privacy.md, "Erasing a user"). */
export function registerUserCommands(program: Command, io: CliIo): void {
  const users = program.command("users").description("erase a user's data");

  users
    .command("erase")
    .description(
      "erase every session, event, user: state and API key of one user in a namespace; resumable, harmless to repeat",
    )
    .requiredOption("--user <id>", "the user to erase")
    .option(
      "--store <url>",
      "the store (default: $FRONTDESK_STORE, else the config file's store, else sqlite:./.frontdesk/frontdesk.db)",
    )
    .option("--namespace <name>", "namespace (default: the config file's namespace, else default)")
    .option("--config <file>", "the config file (default: $FRONTDESK_CONFIG, else ./frontdesk.config.json if present)")
    .option("--by <who>", "who asks, for the audit record (default: $USER, else cli)")
    .option(
      "--vacuum",
      "SQLite: also rebuild the file (VACUUM), so no stale copy of the user's rows stays in pages' free space; " +
        "it locks the store while it runs",
    )
    .option("--json", "print the result as one JSON object")
    .action(async (options: TargetOptions & { user: string; by?: string; json?: boolean; vacuum?: boolean }) => {
      const userId = assertUserId(options.user);
      const target = await openDirectTarget(options, io);
      try {
        const by = options.by ?? io.env.USER ?? "cli";
        const result = await target.manager.eraseUser(userId, { by, vacuum: options.vacuum === true });
        if (options.json) {
          writeLine(io.stdout, JSON.stringify(result));
          return;
        }
        const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
        writeLine(
          io.stdout,
          `erased user ${userId} in ${result.namespace}: ${count(result.sessions, "session", "sessions")}, ` +
            `${count(result.events, "event", "events")}, ${result.scopes > 0 ? "their user: state" : "no user: state"}, ` +
            `${count(result.apiKeys, "API key", "API keys")} revoked (erasure ${result.erasureId})`,
        );
        if (result.scrub === "pending") {
          writeLine(
            io.stderr,
            "another process holds the SQLite write-ahead log open: the scrub of the store's files finishes when it closes " +
              "(run the command again then to finish it here)",
          );
        }
      } finally {
        await target.close();
      }
    });
}
