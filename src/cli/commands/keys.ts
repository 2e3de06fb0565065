import { type Command, InvalidArgumentError } from "commander";
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

/** Mirrors MAX_KEY_REQUESTS_PER_SECOND in server/api-keys.ts, which this module loads only when it runs. */
const MAX_RATE = 1_000_000;

/** `--rate-limit`: requests a second, a number above 0 (fractions allowed: 0.5 is one request every 2 s). */
const rateOption = (text: string): number => {
  const value = Number(text);
  if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(text) || !(value > 0) || value > MAX_RATE) {
    throw new InvalidArgumentError(`expected requests per second, a number above 0 and at most ${MAX_RATE}`);
  }
  return value;
};

/** What `keys list` shows of a key: never its secret (which the store does not have) nor its hash. */
const publicFields = (record: ApiKeyRecord) => ({
  id: record.id,
  prefix: record.prefix,
  userId: record.userId,
  admin: record.admin,
  label: record.label,
  createdAt: record.createdAt,
  revokedAt: record.revokedAt,
  requestsPerSecond: record.requestsPerSecond ?? null,
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
    .option(
      "--rate-limit <n>",
      "requests per second this key may make on each server instance, bursts up to twice that " +
        "(default: the server's limits.requestsPerSecond, 1000)",
      rateOption,
    )
    .action(async (options: { store?: string; user: string; admin?: boolean; label?: string; rateLimit?: number }) => {
      const userId = assertUserId(options.user);
      const { createApiKey } = await import("../../server/api-keys.ts");
      await withStore(options, io, async (store) => {
        const { key, record } = await createApiKey(store, {
          userId,
          admin: options.admin === true,
          label: options.label,
          requestsPerSecond: options.rateLimit ?? null,
        });
        writeLine(io.stdout, key);
        const rate = record.requestsPerSecond == null ? "" : `, limited to ${record.requestsPerSecond} requests/s`;
        writeLine(
          io.stderr,
          `created ${record.admin ? "admin " : ""}API key ${record.id} for user ${record.userId}${rate} (shown once)`,
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
