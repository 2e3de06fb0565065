/**
 * Change hints for subscribers. This store's own writes hint their subscribers directly; commits by
 * other processes sharing the root are found by polling each watched session's `metadata.json`
 * (a `stat`, and a read only when it changed), which runs only while something is subscribed.
 * Hints are advisory: a listener re-reads the log by seq, so a missed or doubled hint loses nothing.
 */
import { stat } from "node:fs/promises";
import type { SessionKey } from "../../core/model.ts";
import type { Unsubscribe } from "../types.ts";
import { type FsContext, readMeta, type Watch } from "./context.ts";
import { isMissing } from "./files.ts";

const keyId = (key: SessionKey): string => `${key.namespace}\0${key.userId ?? ""}\0${key.id}`;

/** After this store committed (`commitId`) or deleted (null) session `key`: its subscribers learn of it. */
export function hint(ctx: FsContext, key: SessionKey, commitId: string | null, lastSeq: number): void {
  const watch = ctx.watches.get(keyId(key));
  if (!watch) return;
  watch.commitId = commitId;
  for (const listener of watch.listeners) {
    queueMicrotask(() => {
      // A hint is advisory: a listener's bug must not become an uncaught exception in the store.
      try {
        listener(lastSeq);
      } catch {}
    });
  }
}

export async function subscribe(
  ctx: FsContext,
  key: SessionKey,
  onHint: (lastSeq: number) => void,
): Promise<Unsubscribe> {
  const { watches } = ctx;
  const paths = ctx.layout.session(key);
  const id = keyId(key);
  let watch = watches.get(id);
  if (!watch) {
    const meta = await readMeta(paths).catch(() => undefined);
    // Another subscribe may have created it while we read.
    watch = watches.get(id) ?? {
      paths,
      listeners: new Set(),
      stamp: undefined,
      commitId: meta?.commitId ?? null,
    };
    watches.set(id, watch);
  }
  watch.listeners.add(onHint);
  if (!ctx.timer && !ctx.closed) {
    ctx.timer = setInterval(() => void poll(ctx).catch(() => undefined), ctx.pollIntervalMs);
    ctx.timer.unref();
  }
  const current = watch;
  return async () => {
    current.listeners.delete(onHint);
    if (current.listeners.size === 0 && watches.get(id) === current) watches.delete(id);
    if (watches.size === 0) stopPolling(ctx);
  };
}

export function stopPolling(ctx: FsContext): void {
  if (ctx.timer) clearInterval(ctx.timer);
  ctx.timer = undefined;
}

async function poll(ctx: FsContext): Promise<void> {
  if (ctx.polling || ctx.closed) return;
  ctx.polling = true;
  try {
    for (const watch of [...ctx.watches.values()]) await pollWatch(watch);
  } finally {
    ctx.polling = false;
  }
}

async function pollWatch(watch: Watch): Promise<void> {
  let stamp: string;
  try {
    const info = await stat(watch.paths.metadata);
    stamp = `${info.ino}:${info.size}:${info.mtimeMs}`;
  } catch (error) {
    if (!isMissing(error)) return;
    stamp = "absent";
  }
  if (stamp === watch.stamp) return;
  watch.stamp = stamp;
  const meta = stamp === "absent" ? undefined : await readMeta(watch.paths).catch(() => undefined);
  const commitId = meta?.commitId ?? null;
  if (commitId === watch.commitId) return;
  const hadSession = watch.commitId !== null;
  watch.commitId = commitId;
  if (meta || hadSession) {
    const lastSeq = meta?.header.lastSeq ?? 0;
    for (const listener of watch.listeners) {
      try {
        listener(lastSeq);
      } catch {}
    }
  }
}
