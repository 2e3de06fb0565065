import type { Command } from "commander";
import { assertNamespace } from "../../core/ids.ts";
import { loadCliConfig } from "../config.ts";
import { openEncryption } from "../encryption.ts";
import { CommandExit, UsageError } from "../failures.ts";
import type { CliIo } from "../io.ts";
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
  const store = program.command("store").description("encrypt a store in place and rotate its master key");

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
      const progress = createProgress(io, { label: "sealing", unit: "sessions" });
      const stop = new AbortController();
      let stoppedBy: StopSignal | undefined;
      const removeSignals = onStopSignals(io, (signal) => {
        stoppedBy ??= signal;
        stop.abort();
      });
      let started = false;
      let shown = 0;
      try {
        const result = await encryptInPlace(opened, {
          namespaces,
          chunkSize: options.chunkSize,
          thorough: options.vacuum === true,
          signal: stop.signal,
          onProgress: (now) => {
            if (!started) {
              started = true;
              progress.start(now.sessionsTotal);
            }
            progress.increment(now.sessionsDone - shown);
            shown = now.sessionsDone;
          },
        });
        const summary =
          `sealed ${result.events} events and ${result.values} values in ${result.sessionsDone} of ` +
          `${result.sessionsTotal} sessions (${result.commits} commits)`;
        if (!result.finished) {
          progress.abort();
          throw new CommandExit(signalExitCode(stoppedBy ?? "SIGINT"), `stopped: ${summary}; run it again to finish`);
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
        removeSignals();
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
}
