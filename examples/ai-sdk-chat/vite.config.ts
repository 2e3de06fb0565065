/**
 * The useChat example, same-origin with Frontdesk: Vite serves the page and passes /v1 to the
 * server, so the browser needs no CORS and the key never leaves this origin.
 *   FRONTDESK_SERVER=http://127.0.0.1:7420 npx vite --config examples/ai-sdk-chat/vite.config.ts
 * `build` writes examples/ai-sdk-chat/dist; `preview` serves it with the same proxy.
 */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/** Where `frontdesk serve` listens by default (src/cli/commands/serve.ts DEFAULT_PORT). */
const server = process.env.FRONTDESK_SERVER ?? "http://127.0.0.1:7420";
const proxy = { "/v1": { target: server } };

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: { proxy },
  preview: { proxy },
});
