import { type ChildProcess, spawn } from "node:child_process";

/**
 * A child process that prints `listening on URL` on stdout: `node args…`, or `command args…` for a
 * wrapper such as valgrind. Request logs are off, as an operator of a busy server would set them.
 */
export async function spawnListening(
  args: string[],
  env: Record<string, string> = {},
  command: string = process.execPath,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(command, args, {
    env: { ...process.env, FRONTDESK_LOG_LEVEL: "fatal", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolveUrl(match[1] as string);
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
  return { url, child };
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await exited;
}

/** The admin key `frontdesk serve` prints (on stderr) when it starts on an empty store. */
export function adminKeyOf(child: ChildProcess): Promise<string> {
  return new Promise((resolveKey) => {
    let err = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      err += chunk;
      const match = /(fd_[A-Za-z0-9_-]{43})/.exec(err);
      if (match) resolveKey(match[1] as string);
    });
  });
}
