// Values the command line reads from files rather than from argv: a secret from its own file
// (so it never shows in /proc/PID/cmdline) and a group name resolved to its id.

import { UsageError } from "./flags.ts";
import { log } from "../log/logger.ts";

/**
 * The secret held in `path`: the file's text without surrounding whitespace (a trailing
 * newline from `echo` is common). The value is registered with the logger's redaction at once.
 *
 * @param flag the flag that named the file, for the error line
 * @throws {UsageError} when the file cannot be read or is empty; the line names the file only
 */
export function readSecretFile(path: string, flag: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).name;
    throw new UsageError(`cannot read ${flag} ${path}: ${reason}`);
  }
  const secret = text.trim();
  if (secret === "") throw new UsageError(`${flag} ${path} is empty`);
  log.addSecret(secret);
  return secret;
}

/**
 * A group given as a number or a name from /etc/group.
 *
 * @throws {UsageError} when no such group exists
 */
export function groupId(
  group: string,
  flag: string,
  read: (path: string) => string = Deno.readTextFileSync,
): number {
  if (/^\d+$/.test(group)) return Number(group);
  let table = "";
  try {
    table = read("/etc/group");
  } catch {
    // No group database: only numeric groups can be used.
  }
  for (const line of table.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && /^\d+$/.test(gid ?? "")) return Number(gid);
  }
  throw new UsageError(`invalid value ${JSON.stringify(group)} for ${flag}: no such group`);
}
