import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { isFrontdeskError } from "../../src/core/errors.ts";
import { SessionManager } from "../../src/core/session-manager.ts";
import { openStore } from "../../src/stores/registry.ts";

describe("openStore", () => {
  it("opens every built-in scheme that needs no server", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fd-registry-"));
    try {
      for (const url of ["memory:", "sqlite::memory:", `sqlite:${join(dir, "a.db")}`, `file:${join(dir, "fs")}`]) {
        const store = await openStore(url);
        const sessions = new SessionManager(() => ({}), store);
        const { id } = await sessions.create();
        expect((await sessions.get(id)).id).toBe(id);
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps a relative file: path relative to the working directory", async () => {
    const dir = mkdtempSync(join(process.cwd(), ".tmp-registry-"));
    try {
      const store = await openStore(`file:./${relative(process.cwd(), dir)}/sessions`);
      await new SessionManager(() => ({}), store).create({ sessionId: "here" });
      await store.close();
      expect(existsSync(join(dir, "sessions"))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses unknown schemes and non-URLs with invalid_request", async () => {
    for (const url of ["mysql://localhost/db", "not a url", ""]) {
      const error = await openStore(url).catch((e: unknown) => e);
      expect(isFrontdeskError(error, "invalid_request")).toBe(true);
    }
  });
});
