import type { Command } from "commander";
import { FrontdeskError } from "../../core/errors.ts";
import { assertUserId } from "../../core/ids.ts";
import type { ApiKeyRecord, SessionStore } from "../../stores/types.ts";
import { type CliIo, writeLine } from "../io.ts";
import { formatTime, renderTable } from "../table.ts";
import { openCommandStore } from "../targets/index.ts";

const STORE_HELP =
  "the server's store (default: $FRONTDESK_STORE, else the config file's store, else sqlite:./.frontdesk/frontdesk.db)";

async function withStore<T>(
  options: { store?: string },
  io: CliIo,
  work: (store: SessionStore) => Promise<T>,
): Promise<T> {
  const store = await openCommandStore(options, io);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** What `keys list` shows of a key: never its secret (which the store does not have) nor its hash. */
const publicFields = (record: ApiKeyRecord) => ({
  id: record.id,
  prefix: record.prefix,
  userId: record.userId,
  admin: record.admin,
  label: record.label,
  createdAt: record.createdAt,
  revokedAt: record.revokedAt,
});

export function registerKeyCommands(program: Command, io: CliIo): void {
  const keys = program.command("keys").description("create, list and revoke the API keys a server accepts");

  keys
    .command("create")
    .description("create an API key and print it alone on stdout (it is shown only this once)")
    .option("--store <url>", STORE_HELP)
    .requiredOption("--user <id>", "the user the key acts as")
    .option("--admin", "the key sees every user's sessions")
    .option("--label <text>", "a note to tell keys apart")
    .action(async (options: { store?: string; user: string; admin?: boolean; label?: string }) => {
      const userId = assertUserId(options.user);
      const { createApiKey } = await import("../../server/api-keys.ts");
      await withStore(options, io, async (store) => {
        const { key, record } = await createApiKey(store, {
          userId,
          admin: options.admin === true,
          label: options.label,
        });
        writeLine(io.stdout, key);
        writeLine(
          io.stderr,
          `created ${record.admin ? "admin " : ""}API key ${record.id} for user ${record.userId} (shown once)`,
        );
      });
    });

  keys
    .command("list")
    .description("list API keys (never their secrets)")
    .option("--store <url>", STORE_HELP)
    .option("--json", "one JSON object per line")
    .action(async (options: { store?: string; json?: boolean }) => {
      const { listApiKeys } = await import("../../server/api-keys.ts");
      await withStore(options, io, async (store) => {
        const records = await listApiKeys(store);
        if (options.json) {
          for (const record of records) writeLine(io.stdout, JSON.stringify(publicFields(record)));
          return;
        }
        if (records.length === 0) {
          writeLine(io.stderr, "no API keys");
          return;
        }
        const lines = renderTable(
          ["ID", "PREFIX", "USER", "ADMIN", "CREATED", "REVOKED", "LABEL"],
          records.map((record) => [
            record.id,
            record.prefix,
            record.userId,
            record.admin ? "yes" : "no",
            formatTime(record.createdAt),
            formatTime(record.revokedAt),
            record.label ?? "-",
          ]),
        );
        for (const line of lines) writeLine(io.stdout, line);
      });
    });

  keys
    .command("revoke")
    .description("revoke an API key by its id or prefix; the server refuses it from then on")
    .argument("<id-or-prefix>", "the key's id, or its prefix as `keys list` shows it")
    .option("--store <url>", STORE_HELP)
    .action(async (idOrPrefix: string, options: { store?: string }) => {
      const { revokeApiKey } = await import("../../server/api-keys.ts");
      await withStore(options, io, async (store) => {
        if (!(await revokeApiKey(store, idOrPrefix))) {
          throw new FrontdeskError("not_found", `No active API key has the id or prefix ${idOrPrefix}`);
        }
        writeLine(io.stderr, `revoked API key ${idOrPrefix}`);
      });
    });
}
