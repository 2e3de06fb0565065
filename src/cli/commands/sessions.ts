import { type Command, Option } from "commander";
import { formatDuration } from "../durations.ts";
import { UsageError } from "../failures.ts";
import { type CliIo, writeLine } from "../io.ts";
import { collectOption, durationOption, integerOption, parseStatuses } from "../options.ts";
import { createProgress, type Progress } from "../progress.ts";
import { sessionDetail, sessionTable, statsLines } from "../render.ts";
import { createOutputFile, openInputLines, writeChunk } from "../streams.ts";
import { openDirectTarget, openTarget, type TargetOptions } from "../targets/index.ts";
import type { SessionTarget, SessionTargetRef } from "../targets/types.ts";

interface OwnerOptions extends TargetOptions {
  user?: string;
  json?: boolean;
}

/**
 * `--store`/`--server`/`--key`/`--namespace`/`--config`: where the command acts. A command that
 * works on a store only (`gc`) still takes `--server` and `--key`, to say so, but does not offer them.
 */
function addTargetOptions(command: Command, reach: "store or server" | "store only" = "store or server"): Command {
  const server = new Option("--server <url>", "act through a running server (default: $FRONTDESK_SERVER)");
  const key = new Option("--key <key>", "API key for --server (default: $FRONTDESK_KEY)");
  if (reach === "store only") {
    server.hideHelp();
    key.hideHelp();
  }
  return command
    .option(
      "--store <url>",
      `${reach === "store only" ? "the store" : "act on this store directly"} (default: $FRONTDESK_STORE, else the config file's store, else sqlite:./.frontdesk/frontdesk.db)`,
    )
    .addOption(server)
    .addOption(key)
    .option("--namespace <name>", "namespace, with --store (default: the config file's namespace, else default)")
    .option("--config <file>", "the config file (default: $FRONTDESK_CONFIG, else ./frontdesk.config.json if present)");
}

/** Opens the target, runs `work`, and always closes what it opened. */
async function withTarget<T>(
  options: TargetOptions,
  io: CliIo,
  work: (target: SessionTarget) => Promise<T>,
): Promise<T> {
  const target = await openTarget(options, io);
  try {
    return await work(target);
  } finally {
    await target.close();
  }
}

const refOf = (id: string, options: OwnerOptions): SessionTargetRef =>
  options.user === undefined ? { id } : { id, userId: options.user };

/** Counts NDJSON lines as they pass: the header line gives the total, each further line is one event. */
async function* counting(lines: AsyncIterable<string>, progress: Progress, seen: { events: number }) {
  let started = false;
  for await (const line of lines) {
    if (line.trim() === "") {
      yield line;
      continue;
    }
    if (!started) {
      started = true;
      let total: number | null = null;
      try {
        const lastSeq = (JSON.parse(line) as { session?: { lastSeq?: unknown } }).session?.lastSeq;
        if (typeof lastSeq === "number" && Number.isSafeInteger(lastSeq) && lastSeq >= 0) total = lastSeq;
      } catch {
        // not JSON: the import itself reports it, with the line number
      }
      progress.start(total);
    } else {
      seen.events++;
      progress.increment();
    }
    yield line;
  }
}

export function registerSessionCommands(program: Command, io: CliIo): void {
  const sessions = program.command("sessions").description("list, inspect, export, import and clean up sessions");

  addTargetOptions(
    sessions
      .command("list")
      .description("list sessions, newest first")
      .option("--user <id>", "only this user's sessions")
      .option(
        "--status <status>",
        "only these statuses (repeatable; active, completed, failed, abandoned)",
        collectOption,
      )
      .option("--tag <tag>", "only sessions with every one of these tags (repeatable)", collectOption)
      .option("--query <text>", "only sessions whose title or purpose contains this text")
      .option("--limit <n>", "at most this many (1-1000)", integerOption(1, 1000))
      .option("--cursor <cursor>", "continue after a previous page (printed on stderr)")
      .option("--json", "one JSON object per line"),
  ).action(
    async (
      options: OwnerOptions & { status?: string[]; tag?: string[]; query?: string; limit?: number; cursor?: string },
    ) => {
      const status = parseStatuses(options.status);
      await withTarget(options, io, async (target) => {
        const page = await target.list({
          userId: options.user,
          status,
          tags: options.tag,
          text: options.query,
          limit: options.limit,
          cursor: options.cursor,
        });
        if (options.json) {
          for (const session of page.items) writeLine(io.stdout, JSON.stringify(session));
        } else if (page.items.length === 0) {
          writeLine(io.stderr, "no sessions");
        } else {
          for (const line of sessionTable(page.items)) writeLine(io.stdout, line);
        }
        if (page.nextCursor !== null) writeLine(io.stderr, `more: --cursor ${page.nextCursor}`);
      });
    },
  );

  addTargetOptions(
    sessions
      .command("show")
      .description("a session's header, state, stats and latest events")
      .argument("<id>", "session id")
      .option("--user <id>", "the session's owner (needed when several users have this id)")
      .option("--events <n>", "how many of the latest events to show (default 10)", integerOption(0, 10_000))
      .option("--json", "one JSON object {session, events}"),
  ).action(async (id: string, options: OwnerOptions & { events?: number }) => {
    await withTarget(options, io, async (target) => {
      const ref = refOf(id, options);
      const session = await target.get(ref);
      const resolved = { id: session.id, userId: session.userId };
      const events = await target.lastEvents(resolved, options.events ?? 10);
      if (options.json) {
        writeLine(io.stdout, JSON.stringify({ session, events }));
      } else {
        for (const line of sessionDetail(session, events)) writeLine(io.stdout, line);
      }
    });
  });

  addTargetOptions(
    sessions
      .command("rm")
      .description("delete a session with all its events")
      .argument("<id>", "session id")
      .option("--user <id>", "the session's owner (needed when several users have this id)"),
  ).action(async (id: string, options: OwnerOptions) => {
    await withTarget(options, io, async (target) => {
      await target.delete(refOf(id, options));
      writeLine(io.stderr, `deleted session ${id}`);
    });
  });

  addTargetOptions(
    sessions
      .command("export")
      .description("write a session as NDJSON (a header line, then one line per event)")
      .argument("<id>", "session id")
      .option("--user <id>", "the session's owner (needed when several users have this id)")
      .option("--out <file>", "write to this file instead of stdout (replaced only when the export is whole)"),
  ).action(async (id: string, options: OwnerOptions & { out?: string }) => {
    await withTarget(options, io, async (target) => {
      const progress = createProgress(io, { label: "exporting", unit: "events" });
      const seen = { events: 0 };
      const file = options.out === undefined ? undefined : await createOutputFile(options.out);
      const out = file?.stream ?? io.stdout;
      try {
        for await (const line of counting(target.exportSession(refOf(id, options)), progress, seen)) {
          await writeChunk(out, `${line}\n`);
        }
        await file?.commit();
      } catch (error) {
        progress.abort();
        await file?.discard();
        throw error;
      }
      progress.finish(`exported ${seen.events} events${options.out === undefined ? "" : ` to ${options.out}`}`);
    });
  });

  addTargetOptions(
    sessions
      .command("import")
      .description("create a session from an NDJSON export; prints its id")
      .argument("[file]", "the export, or - for stdin (default: stdin)")
      .option("--id <id>", "import under this id instead of the exported one")
      .option("--user <id>", "import for this owner instead of the exported one"),
  ).action(async (file: string | undefined, options: OwnerOptions & { id?: string }) => {
    const lines = await openInputLines(file, io);
    await withTarget(options, io, async (target) => {
      const progress = createProgress(io, { label: "importing", unit: "events" });
      const seen = { events: 0 };
      let imported: Awaited<ReturnType<SessionTarget["importSession"]>>;
      try {
        imported = await target.importSession(counting(lines, progress, seen), {
          sessionId: options.id,
          userId: options.user,
        });
      } catch (error) {
        progress.abort();
        throw error;
      }
      progress.finish(`imported ${imported.lastSeq} events into session ${imported.id}`);
      writeLine(io.stdout, imported.id);
    });
  });

  addTargetOptions(
    sessions
      .command("gc")
      .description("delete expired sessions; with --older-than, also sessions not updated for that long")
      .option(
        "--older-than <age>",
        "retention: also delete sessions not updated for this long (e.g. 30d, 12h)",
        durationOption,
      ),
    "store only",
  ).action(async (options: TargetOptions & { olderThan?: number }) => {
    if (options.server !== undefined || options.key !== undefined) {
      throw new UsageError("gc works on a store only: pass --store, not --server or --key");
    }
    const target = await openDirectTarget(options, io);
    try {
      const sweep = createProgress(io, { label: "sweeping expired", unit: "sessions" });
      sweep.start(null);
      let swept = 0;
      const batch = 500;
      try {
        for (;;) {
          const removed = await target.manager.sweepExpired(batch);
          swept += removed;
          sweep.increment(removed);
          if (removed < batch) break;
        }
      } catch (error) {
        sweep.abort();
        throw error;
      }
      sweep.finish(`swept ${swept} expired sessions`);
      if (options.olderThan !== undefined) {
        const retention = createProgress(io, {
          label: `removing sessions older than ${formatDuration(options.olderThan)}`,
          unit: "sessions",
        });
        retention.start(null);
        let removed: number;
        try {
          removed = await target.manager.cleanupOldSessions(options.olderThan);
        } catch (error) {
          retention.abort();
          throw error;
        }
        retention.increment(removed);
        retention.finish(`removed ${removed} sessions not updated for ${formatDuration(options.olderThan)}`);
      }
    } finally {
      await target.close();
    }
  });

  addTargetOptions(
    sessions
      .command("prune")
      .description(
        "remove old events of every session, keeping the newest --keep and (by default) whatever no summary stands for",
      )
      .requiredOption("--keep <n>", "events kept per session, the newest", integerOption(1))
      .option("--all", "also remove events no summary stands for (default: only what a summary covers)")
      .option("--user <id>", "only this owner's sessions"),
    "store only",
  ).action(async (options: TargetOptions & { keep: number; all?: boolean; user?: string }) => {
    if (options.server !== undefined || options.key !== undefined) {
      throw new UsageError("prune works on a store only: pass --store, not --server or --key");
    }
    const target = await openDirectTarget(options, io);
    const progress = createProgress(io, { label: "pruning", unit: "sessions" });
    try {
      const policy = { keepLastEvents: options.keep, onlySummarized: options.all !== true };
      const { sessions: seen, removed } = await target.manager.pruneAll(policy, {
        userId: options.user,
        onProgress: (done, total) => {
          if (done === 0) progress.start(total);
          else progress.increment();
        },
      });
      progress.finish(
        `pruned ${seen} ${seen === 1 ? "session" : "sessions"}: removed ${removed} ${removed === 1 ? "event" : "events"}`,
      );
    } catch (error) {
      progress.abort();
      throw error;
    } finally {
      await target.close();
    }
  });

  addTargetOptions(
    sessions
      .command("stats")
      .description("a session's statistics")
      .argument("<id>", "session id")
      .option("--user <id>", "the session's owner (needed when several users have this id)")
      .option("--json", "one JSON object"),
  ).action(async (id: string, options: OwnerOptions) => {
    await withTarget(options, io, async (target) => {
      const stats = await target.stats(refOf(id, options));
      if (options.json) writeLine(io.stdout, JSON.stringify(stats));
      else for (const line of statsLines(stats)) writeLine(io.stdout, line);
    });
  });
}
