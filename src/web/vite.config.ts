/**
 * Builds the console into dist/web (emptied first, nothing else touched):
 *   npx vite build --config src/web/vite.config.ts
 * Develop against a running server (`frontdesk serve`, or FRONTDESK_URL):
 *   npx vite --config src/web/vite.config.ts
 */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const api = process.env.FRONTDESK_URL ?? "http://127.0.0.1:7420";
const proxy = Object.fromEntries(["/v1", "/healthz", "/readyz", "/openapi.json"].map((p) => [p, { target: api }]));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../../dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // No inline polyfill script: the server's CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: { proxy },
  preview: { proxy },
});
