/**
 * `scrub()`: removes what crashes left in the store's files that may still hold content removed
 * through the store. A commit, delete or `eraseScope` that returns has already unlinked every file
 * holding what it removed, and the store keeps no journal; only a crash between a commit point and
 * the unlinks after it leaves such bytes behind. (Blocks the filesystem freed are beyond any file,
 * and beyond the store's reach: encryption at rest is what covers them.) The leftovers:
 * - tombstones of deletes (`.<id>.del-…`), whose folder the delete had renamed away;
 * - log generations other than the current one: the one a rewrite replaced, or one a rewrite
 *   wrote before crashing ahead of its commit point;
 * - a `metadata.json.tmp` that never became `metadata.json`;
 * - the folder of a create that crashed before its first `metadata.json`.
 *
 * Each session folder is first looked at without its lock (a `readdir` and `metadata.json`); only
 * one with leftovers is cleaned, under its lock, so a scrub of a clean store writes nothing.
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import type { SessionKey } from "../../core/model.ts";
import { removeFolder, removeLog } from "./commands.ts";
import { type FsContext, listDir, logOf, type MetadataFile, ownersOf, readMeta } from "./context.ts";
import { tempFileOf } from "./files.ts";
import { isNamespaceSegment, isSessionSegment, isTombstone, logGenerationOf, type SessionPaths } from "./layout.ts";
import { withLock } from "./lock.ts";

export async function scrub(ctx: FsContext): Promise<{ pending: boolean }> {
  const { layout } = ctx;
  let pending = false;
  for (const namespace of (await listDir(layout.root)).filter(isNamespaceSegment)) {
    for (const userId of await ownersOf(layout, namespace)) {
      const ownerDir = layout.ownerDir(namespace, userId);
      for (const name of await listDir(ownerDir)) {
        if (isTombstone(name)) {
          // Its delete may be removing it right now: whoever finishes, it is gone.
          await rm(path.join(ownerDir, name), { recursive: true, force: true }).catch(() => undefined);
          if ((await listDir(ownerDir)).includes(name)) pending = true;
        } else if (isSessionSegment(name)) {
          await scrubSession(ctx, { namespace, userId, id: name });
        }
      }
    }
  }
  return { pending };
}

async function scrubSession(ctx: FsContext, key: SessionKey): Promise<void> {
  const paths = ctx.layout.session(key);
  if (leftovers(paths, await readMeta(paths), await listDir(paths.dir)).length === 0) return;
  await withLock(paths.lock, ctx.lockSettings, async (guard) => {
    const meta = await readMeta(paths);
    if (!meta) {
      // No commit ever landed: a create crashed (creates hold this lock until their commit point).
      await removeFolder(ctx, paths, () => guard.assertHeld());
      return;
    }
    for (const name of leftovers(paths, meta, await listDir(paths.dir))) {
      const generation = logGenerationOf(name);
      if (generation !== undefined) await removeLog(ctx, paths, generation);
      else await rm(path.join(paths.dir, name), { force: true });
    }
  });
}

/** The files of the session folder no commit needs: every log but the current one, a stale temp. */
function leftovers(paths: SessionPaths, meta: MetadataFile | undefined, names: readonly string[]): string[] {
  if (!meta) return names.length > 0 ? [...names] : [];
  const current = logOf(meta);
  const staleTemp = path.basename(tempFileOf(paths.metadata));
  return names.filter((name) => {
    const generation = logGenerationOf(name);
    return generation !== undefined ? generation !== current : name === staleTemp;
  });
}
