#!/usr/bin/env node
// The bin only hands over to main() and sets the exit code: main never calls process.exit itself.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
