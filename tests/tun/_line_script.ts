// Test helper: a Deno script of tests/tun run inside a namespace and spoken to one line at a time
// (a command on stdin, an answer on stdout). Drives _device_driver.ts and _fuzz_relay.ts.

import { stopProcess } from "../_support/netns.ts";

/** A running script and its line channel. */
export interface LineScript {
  /** Writes `command` and a newline. @returns the next line it answers */
  ask(command: string): Promise<string>;
  /** The next line on stdout (for answers that come unasked). @throws when the script ended */
  nextLine(): Promise<string>;
  /** Closes its stdin and stdout and stops it; never throws. */
  stop(): Promise<void>;
}

/**
 * Runs `deno run --quiet PERMISSIONS tests/tun/SCRIPT ARGS` inside the namespace `nsName`.
 *
 * @param permissions deno flags such as `["-A"]` or `["--allow-net"]`
 */
export function startLineScript(
  nsName: string,
  script: string,
  permissions: string[],
  args: string[] = [],
): LineScript {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      nsName,
      Deno.execPath(),
      "run",
      "--quiet",
      "--unstable-net",
      ...permissions,
      new URL(script, import.meta.url).pathname,
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<string> => {
    while (!pending.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${script} ended`);
      pending += value;
    }
    const line = pending.slice(0, pending.indexOf("\n"));
    pending = pending.slice(line.length + 1);
    return line;
  };
  return {
    async ask(command) {
      await writer.write(new TextEncoder().encode(command + "\n"));
      return await nextLine();
    },
    nextLine,
    async stop() {
      await writer.close().catch(() => {});
      await reader.cancel().catch(() => {});
      await stopProcess(child);
    },
  };
}
