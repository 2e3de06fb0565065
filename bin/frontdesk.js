#!/usr/bin/env node
// The bin only hands over to main() and sets the exit code: main never calls process.exit itself.
import { main } from "../dist/cli/main.js";

const exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
process.exitCode = exitCode;

// The command has finished and closed what it opened. A handle a library still holds (a socket it
// keeps reconnecting, a timer) must not keep the process alive: it exits by itself when nothing is
// left, and otherwise after a grace period, naming what was still open so it can be found.
const GRACE_MS = 3000;
setTimeout(() => {
  const open = process.getActiveResourcesInfo().filter((resource) => resource !== "Timeout");
  process.stderr.write(
    `frontdesk: exiting ${GRACE_MS} ms after the command ended; still open: ${open.join(", ") || "timers"}\n`,
  );
  process.exit(exitCode);
}, GRACE_MS).unref();
