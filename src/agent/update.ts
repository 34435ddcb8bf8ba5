// Hand-off to an updated agent: a newer burrow saved in the state directory runs in place of
// the installed one, which then only relays signals and the exit code. The installed version
// travels in BURROW_INSTALLED_VERSION, so `info` reports both and `isUpdated`.

import { VERSION } from "../version.ts";
import { log } from "../log/mod.ts";

/** Where an update is saved, relative to the state directory. */
export const UPDATE_PATH = "update/burrow";
export const INSTALLED_VERSION_ENV = "BURROW_INSTALLED_VERSION";

/** The saved update's path when one exists and this process is not already it. */
export function pendingUpdate(stateDir: string): string | undefined {
  if (Deno.env.get(INSTALLED_VERSION_ENV)) return undefined;
  const path = `${stateDir}/${UPDATE_PATH}`;
  try {
    const info = Deno.statSync(path);
    return info.isFile && (info.mode ?? 0) & 0o111 ? path : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Runs the update with the same arguments and stdio, forwarding SIGINT and SIGTERM.
 *
 * @returns the update's exit code
 */
export async function runUpdate(path: string, args: readonly string[]): Promise<number> {
  log.info("running the updated agent from the state directory", { path });
  const child = new Deno.Command(path, {
    args: [...args],
    env: { [INSTALLED_VERSION_ENV]: VERSION },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = forward(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  try {
    const status = await child.status;
    return status.signal ? 128 + signalNumber(status.signal) : status.code;
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  }
}

function signalNumber(signal: Deno.Signal): number {
  return signal === "SIGINT" ? 2 : signal === "SIGKILL" ? 9 : signal === "SIGTERM" ? 15 : 1;
}

/**
 * The version installed on the host. When the launcher runs a newer burrow saved in the state
 * directory, it passes the installed one in `BURROW_INSTALLED_VERSION`.
 */
export function installedVersion(): string {
  const fromLauncher = Deno.env.get(INSTALLED_VERSION_ENV);
  return withV(fromLauncher && fromLauncher.trim() !== "" ? fromLauncher.trim() : VERSION);
}

/** The version of the code running now. */
export function runtimeVersion(): string {
  return withV(VERSION);
}

function withV(version: string): string {
  return version.startsWith("v") ? version : `v${version}`;
}
