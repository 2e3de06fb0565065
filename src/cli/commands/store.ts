import type { Command } from "commander";
import { assertNamespace } from "../../core/ids.ts";
import { MAX_BUCKETS } from "../../stores/redis/keys.ts";
import { loadCliConfig } from "../config.ts";
import { openEncryption } from "../encryption.ts";
import { CommandExit, UsageError } from "../failures.ts";
import { type CliIo, writeLine } from "../io.ts";
import { collectOption, integerOption } from "../options.ts";
import { createProgress } from "../progress.ts";
import { onStopSignals, type StopSignal, signalExitCode } from "../signals.ts";
import { DEFAULT_NAMESPACE, DEFAULT_STORE_URL, openCommandStore } from "../targets/index.ts";

const STORE_HELP = `the store (default: $FRONTDESK_STORE, else the config file's store, else ${DEFAULT_STORE_URL})`;
const NOT_CONFIGURED =
  "Encryption is not configured: set FRONTDESK_MASTER_KEYS (or FRONTDESK_MASTER_KEY_FILE) and FRONTDESK_KEY_RING, " +
  "or the config file's encryption section (docs/encryption.md)";

interface EncryptOptions {
  store?: string;
  config?: string;
  namespace?: string[];
  chunkSize?: number;
  vacuum?: boolean;
}

/** `frontdesk store …`: operations on a store's encryption at rest (docs/encryption.md). */
export function registerStoreCommands(program: Command, io: CliIo): void {
  const store = program
    .command("store")
    .description("encrypt a store in place, rotate its master key, migrate a Redis store's key layout");

  store
    .command("encrypt")
    .description(
      "seal in place what a store holds in plaintext (events, state, metadata), resumably: safe to stop and run again",
    )
    .option("--store <url>", STORE_HELP)
    .option("--config <file>", "where the store and the encryption settings are read from")
    .option(
      "--namespace <ns>",
      "a namespace to encrypt, repeatable (default: the config file's namespace, else default)",
      collectOption,
    )
    .option("--chunk-size <n>", "events sealed per commit (default: 500)", integerOption(1, 100_000))
    .option(
      "--vacuum",
      "SQLite: then rebuild the file (VACUUM), so no stale copy of a plaintext row stays in pages' free space; " +
        "blocks writers while it runs",
    )
    .action(async (options: EncryptOptions) => {
      const config = await loadCliConfig(options, io);
      const namespaces = (options.namespace ?? [config.settings.namespace ?? DEFAULT_NAMESPACE]).map((ns) =>
        assertNamespace(ns),
      );
      const { encryptInPlace, isEncryptedStore } = await import("../../encryption/index.ts");
      const opened = await openCommandStore(options, io, config);
      if (!isEncryptedStore(opened)) {
        await opened.close();
        throw new UsageError(NOT_CONFIGURED);
      }
      const run = stoppableRun(io, "sealing");
      const { progress } = run;
      try {
        const result = await encryptInPlace(opened, {
          namespaces,
          chunkSize: options.chunkSize,
          thorough: options.vacuum === true,
          signal: run.signal,
          onProgress: (now) => run.report(now.sessionsDone, now.sessionsTotal),
        });
        const summary =
          `sealed ${result.events} events and ${result.values} values in ${result.sessionsDone} of ` +
          `${result.sessionsTotal} sessions (${result.commits} commits)`;
        if (!result.finished) {
          progress.abort();
          throw run.stopped(summary);
        }
        const scrub =
          result.scrub === "pending"
            ? "; another process holds the SQLite write-ahead log open: run it again later to scrub the file"
            : "";
        progress.finish(`${summary}, namespace ${namespaces.join(", ")}${scrub}`);
      } catch (error) {
        progress.abort();
        throw error;
      } finally {
        run.dispose();
        await opened.close();
      }
    });

  store
    .command("rotate-key")
    .description(
      "rewrap every data key with the current master key (the first of FRONTDESK_MASTER_KEYS); no session data is rewritten",
    )
    .option("--config <file>", "where the encryption settings are read from")
    .action(async (options: { config?: string }) => {
      const config = await loadCliConfig(options, io);
      const setup = await openEncryption(io, config);
      if (!setup) throw new UsageError(NOT_CONFIGURED);
      const { rotateMasterKey } = await import("../../encryption/index.ts");
      const progress = createProgress(io, { label: "rewrapping", unit: "data keys" });
      progress.start(null);
      try {
        const result = await rotateMasterKey(setup.keyRing, setup.masterKeys, {
          onProgress: () => progress.increment(),
        });
        const gone = result.gone > 0 ? `, ${result.gone} destroyed meanwhile` : "";
        const scrubbed = result.scrubbed ? "" : "; the key ring's log is still held by a reader: run it again later";
        progress.finish(
          `rewrapped ${result.rewrapped} data keys with master key ${setup.masterKeys.currentKeyId()} ` +
            `(${result.current} already were${gone})${scrubbed}`,
        );
      } catch (error) {
        progress.abort();
        throw error;
      } finally {
        await setup.keyRing.close();
      }
    });

  store
    .command("migrate-redis")
    .description(
      "move a Redis store from the key layout before buckets to layout 2, resumably: safe to stop and run again " +
        "(stop every server of the old version first)",
    )
    .argument("<url>", "the standalone Redis holding the store: redis://… or rediss://…, as the store's URL")
    .option("--prefix <p>", "the store's key prefix (default: the URL's prefix parameter, else fd)")
    .option(
      "--buckets <n>",
      "buckets of the new layout (default: the URL's buckets parameter, else the count a former run recorded, else 1; " +
        "a store bound for a Cluster wants 256)",
      integerOption(1, MAX_BUCKETS),
    )
    .option("--batch <n>", "sessions moved per round trip (default: 200)", integerOption(1, 100_000))
    .action(async (url: string, options: MigrateOptions) => {
      const target = migrationTarget(url, options);
      const { migrateRedisLayout } = await import("../../stores/redis/migrate.ts");
      const run = stoppableRun(io, "migrating");
      const { progress } = run;
      try {
        const result = await migrateRedisLayout({
          ...target,
          batch: options.batch,
          signal: run.signal,
          onProgress: (now) => run.report(now.migrated, now.migrated + now.remaining),
        });
        progress.abort();
        const where = `prefix ${target.keyPrefix}, layout 2 with ${result.buckets} bucket${result.buckets === 1 ? "" : "s"}`;
        if (result.alreadyMigrated) {
          writeLine(io.stdout, `nothing to migrate: ${where}`);
          return;
        }
        const summary =
          `moved ${result.sessions} sessions and ${result.scopes} user: scopes; removed the index entries of ` +
          `${result.reclaimed} sessions Redis had reclaimed and ${result.staleIndexes} stale index keys`;
        if (!result.finished) throw run.stopped(summary);
        writeLine(io.stdout, `migrated ${where}: ${summary}`);
      } catch (error) {
        progress.abort();
        throw error;
      } finally {
        run.dispose();
      }
    });
}

interface MigrateOptions {
  prefix?: string;
  buckets?: number;
  batch?: number;
}

/**
 * The URL as a store takes it (`?prefix=…&buckets=…`, docs/stores/redis.md) or bare with the flags;
 * a flag that contradicts the URL is refused rather than guessed between.
 */
function migrationTarget(text: string, options: MigrateOptions): { url: string; keyPrefix: string; buckets?: number } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError("The Redis URL is not a URL: expected redis://host:port/db or rediss://…");
  }
  const fromUrl = url.searchParams.get("prefix") ?? undefined;
  const bucketsParam = url.searchParams.get("buckets");
  const bucketsFromUrl = bucketsParam === null ? undefined : Number(bucketsParam);
  if (
    bucketsFromUrl !== undefined &&
    !(/^\d+$/.test(bucketsParam ?? "") && bucketsFromUrl >= 1 && bucketsFromUrl <= MAX_BUCKETS)
  ) {
    throw new UsageError(`The URL's buckets parameter must be a whole number from 1 to ${MAX_BUCKETS}`);
  }
  for (const name of ["prefix", "buckets", "waitReplicas", "waitTimeoutMs"]) url.searchParams.delete(name);
  if (options.prefix !== undefined && fromUrl !== undefined && options.prefix !== fromUrl) {
    throw new UsageError("--prefix and the URL's prefix parameter differ: give one");
  }
  if (options.buckets !== undefined && bucketsFromUrl !== undefined && options.buckets !== bucketsFromUrl) {
    throw new UsageError("--buckets and the URL's buckets parameter differ: give one");
  }
  const buckets = options.buckets ?? bucketsFromUrl;
  return { url: url.href, keyPrefix: options.prefix ?? fromUrl ?? "fd", ...(buckets === undefined ? {} : { buckets }) };
}

/**
 * A long, resumable store command's progress bar and its stop signals: SIGINT, SIGTERM or SIGHUP
 * abort `signal`, the command stops between batches, and `stopped` is its exit (128 + the signal).
 */
function stoppableRun(io: CliIo, label: string) {
  const progress = createProgress(io, { label, unit: "sessions" });
  const stop = new AbortController();
  let stoppedBy: StopSignal | undefined;
  const dispose = onStopSignals(io, (signal) => {
    stoppedBy ??= signal;
    stop.abort();
  });
  let started = false;
  let shown = 0;
  return {
    progress,
    signal: stop.signal,
    dispose,
    report(done: number, total: number): void {
      if (!started) {
        started = true;
        progress.start(total);
      }
      progress.increment(done - shown);
      shown = done;
    },
    stopped: (summary: string): CommandExit =>
      new CommandExit(signalExitCode(stoppedBy ?? "SIGINT"), `stopped: ${summary}; run it again to finish`),
  };
}
