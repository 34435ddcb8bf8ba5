// A secret read from its own file (`--secret-file`), so it never shows in /proc/PID/cmdline.

import { UsageError } from "./flags.ts";
import { log } from "../log/mod.ts";

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
