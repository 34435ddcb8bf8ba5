// The config file of `burrow agent` and `burrow hub`: `--config FILE` (env CONFIG_FILE), one
// JSON object whose keys are the role's long flag names. Its values rank below flags and the
// environment and above defaults (src/cli/flags.ts); any problem is one UsageError line.

import { type FileValues, type Flags, type FlagSpec, UsageError } from "./flags.ts";
import { log } from "../log/mod.ts";

/** The flag that names the config file; agent and hub put it in their tables. */
export const CONFIG_FLAG: FlagSpec = {
  name: "config",
  type: "string",
  env: "CONFIG_FILE",
  value: "FILE",
  description: "JSON file whose keys are long flag names (flags and environment override it)",
};

// Keys whose values are secrets: a file holding one should be readable by its owner only.
const SECRET_KEYS = ["secret", "user-token", "api-token"];

// Keys that make no sense inside the file itself.
const NOT_IN_FILE = new Set(["config", "help"]);

/**
 * Reads the file that `--config`/CONFIG_FILE names, if any, as raw text per flag name, ready
 * for the flag table's own checks (so a bad value reads like a bad flag).
 *
 * JSON strings, numbers and booleans are accepted; a number or boolean is turned into the text
 * a command line would carry, so `"mtu": 1400` and `"mtu": "1400"` are the same. File modes
 * must be strings: JSON has no octal numbers, and 432 (0660 in decimal) would read as 0432.
 *
 * @param specs the role's flags, for the modes
 * @param read reads the file (tests pass their own)
 * @throws {UsageError} when the file cannot be read, is not a JSON object, or holds a value
 *   that is not a string, number or boolean
 */
export function readConfigFile(
  flags: Flags,
  specs: readonly FlagSpec[],
  read: (path: string) => string = Deno.readTextFileSync,
): FileValues | undefined {
  const path = flags.string("config");
  if (path === undefined || path === "") return undefined;
  let text: string;
  try {
    text = read(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : (error as Error).message;
    throw new UsageError(`cannot read config file ${path}: ${reason}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new UsageError(`${path}: expected one JSON object whose keys are long flag names`);
  }
  const modes = new Set(specs.filter((spec) => spec.type === "mode").map((spec) => spec.name));
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    if (NOT_IN_FILE.has(key)) throw new UsageError(`${path}: key "${key}" is not allowed here`);
    if (typeof value === "string") values.set(key, value);
    else if (typeof value === "number" && modes.has(key)) {
      throw new UsageError(
        `${path}: key "${key}" is a file mode: write it as a string, e.g. "0660"`,
      );
    } else if (typeof value === "number" && Number.isFinite(value)) values.set(key, String(value));
    else if (typeof value === "boolean") values.set(key, String(value));
    else {
      throw new UsageError(
        `${path}: key ${JSON.stringify(key)} must be a string, number or boolean`,
      );
    }
  }
  if (SECRET_KEYS.some((key) => values.has(key))) warnIfShared(path);
  return { file: path, values };
}

function warnIfShared(path: string): void {
  try {
    const mode = Deno.statSync(path).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      log.warn("the config file holds a secret and others can read it (chmod 600)", {
        file: path,
        mode: `0${(mode & 0o777).toString(8)}`,
      });
    }
  } catch {
    // Not a real file (tests read their own text): nothing to check.
  }
}
