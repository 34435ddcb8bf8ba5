// Command-line flags for every role: one table per role gives each flag its type,
// environment variable and default; precedence is flag > environment > config file > default
// (the config file, `--config FILE`, is read by src/cli/config_file.ts).

import { parseCidr, parseHostPort } from "../net/mod.ts";
import { parseDurationMs } from "../protocol/mod.ts";

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export type FlagType =
  | "string"
  | "boolean"
  | "int"
  | "port"
  | "hostport"
  | "cidr"
  | "duration"
  | "mode"
  | "portrange"
  | "choice";

export interface FlagSpec {
  /** Long name without dashes, e.g. `http-addr`. */
  name: string;
  type: FlagType;
  description: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** One-letter alias, e.g. `f` for `-f`. */
  short?: string;
  /** Default as it would be typed on the command line. */
  default?: string;
  /** Allowed values for `choice`. */
  choices?: readonly string[];
  /** Placeholder shown in usage. */
  value?: string;
}

export type FlagValue = string | number | boolean | { first: number; last: number };

/** Where a flag's value came from, highest precedence first. */
export type FlagSource = "flag" | "env" | "file" | "default";

/** Values from a config file: raw text per long flag name, and the file's name for errors. */
export interface FileValues {
  file: string;
  values: ReadonlyMap<string, string>;
}

/** Parsed flags: typed getters that know the spec table. */
export class Flags {
  constructor(
    readonly values: Map<string, FlagValue>,
    readonly positionals: string[],
    /** Where each value came from. */
    readonly sources: Map<string, FlagSource>,
  ) {}

  has(name: string): boolean {
    return this.values.has(name);
  }
  string(name: string): string | undefined {
    const value = this.values.get(name);
    return value === undefined ? undefined : String(value);
  }
  number(name: string): number | undefined {
    const value = this.values.get(name);
    return typeof value === "number" ? value : undefined;
  }
  boolean(name: string): boolean {
    return this.values.get(name) === true;
  }
  range(name: string): { first: number; last: number } | undefined {
    const value = this.values.get(name);
    return typeof value === "object" ? value : undefined;
  }
}

/**
 * Converts one textual value to its flag type.
 *
 * @throws {UsageError} naming the flag, the value and what was expected
 */
export function convertFlagValue(spec: FlagSpec, raw: string, origin: string): FlagValue {
  const bad = (expected: string) =>
    new UsageError(`invalid value ${JSON.stringify(raw)} for ${origin}: expected ${expected}`);
  switch (spec.type) {
    case "string":
      return raw;
    case "boolean": {
      const lower = raw.toLowerCase();
      if (["1", "true", "yes", "on"].includes(lower)) return true;
      if (["0", "false", "no", "off", ""].includes(lower)) return false;
      throw bad("true or false");
    }
    case "int":
      if (!/^\d+$/.test(raw)) throw bad("a whole number");
      return Number(raw);
    case "port": {
      if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw bad("a port from 0 to 65535");
      return Number(raw);
    }
    case "hostport":
      if (!parseHostPort(raw)) throw bad("HOST:PORT with a port from 0 to 65535");
      return raw;
    case "cidr":
      if (!parseCidr(raw) || !raw.includes("/")) throw bad("a CIDR such as 100.89.128.0/20");
      return raw;
    case "duration": {
      const ms = parseDurationMs(raw);
      if (ms === undefined) throw bad("a duration such as 500ms, 3s or 1m");
      return ms;
    }
    case "mode":
      if (!/^0?[0-7]{3}$/.test(raw)) throw bad("an octal file mode such as 0660");
      return parseInt(raw, 8);
    case "portrange": {
      const match = /^(\d{1,5})-(\d{1,5})$/.exec(raw);
      const first = Number(match?.[1]), last = Number(match?.[2]);
      if (!match || first < 1 || last > 65535 || first > last) {
        throw bad("FIRST-LAST with ports from 1 to 65535");
      }
      return { first, last };
    }
    case "choice":
      if (!spec.choices?.includes(raw)) throw bad(`one of ${spec.choices?.join(", ")}`);
      return raw;
  }
}

/**
 * Parses `args` against `specs`, then fills absent flags from `env`, then from the config
 * file's values (`fromFile`, see src/cli/config_file.ts), then from defaults.
 * Long flags take one or two dashes (`-endpoint` like Olm, or `--endpoint`), values
 * after `=` or as the next argument; booleans stand alone or take `=false`.
 *
 * @throws {UsageError} for an unknown flag, a missing or bad value
 */
export function parseFlags(
  specs: readonly FlagSpec[],
  args: readonly string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  fromFile?: (flagsSoFar: Flags) => FileValues | undefined,
): Flags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values = new Map<string, FlagValue>();
  const sources = new Map<string, FlagSource>();
  const positionals: string[] = [];

  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = arg.startsWith("--") || name.length > 1 ? byName.get(name) : byShort.get(name);
    if (!spec) throw new UsageError(`unknown flag ${arg.split("=")[0]}`);
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.type === "boolean") raw = "true";
    else if (i + 1 < args.length) raw = args[++i];
    else throw new UsageError(`flag --${spec.name} needs a value`);
    values.set(spec.name, convertFlagValue(spec, raw, `--${spec.name}`));
    sources.set(spec.name, "flag");
  }

  for (const spec of specs) {
    if (values.has(spec.name)) continue;
    const fromEnv = spec.env ? env(spec.env) : undefined;
    if (fromEnv !== undefined && fromEnv !== "") {
      values.set(spec.name, convertFlagValue(spec, fromEnv, spec.env!));
      sources.set(spec.name, "env");
    }
  }

  // The file is found from the flags and environment read so far (`--config`/CONFIG_FILE).
  const file = fromFile?.(new Flags(values, positionals, sources));
  for (const [name, raw] of file?.values ?? []) {
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`${file!.file}: unknown key ${JSON.stringify(name)}`);
    if (values.has(name)) continue;
    values.set(name, convertFlagValue(spec, raw, `key ${JSON.stringify(name)} in ${file!.file}`));
    sources.set(name, "file");
  }

  for (const spec of specs) {
    if (values.has(spec.name)) continue;
    if (spec.default !== undefined) {
      values.set(spec.name, convertFlagValue(spec, spec.default, `default of --${spec.name}`));
      sources.set(spec.name, "default");
    }
  }
  return new Flags(values, positionals, sources);
}

/** Usage text: synopsis, then every flag with its value, environment variable and default. */
export function formatUsage(synopsis: string, summary: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((spec) => {
    const placeholder = spec.type === "boolean" ? "" : ` ${spec.value ?? spec.type.toUpperCase()}`;
    const short = spec.short ? `-${spec.short}, ` : "";
    const left = `  ${short}--${spec.name}${placeholder}`;
    const extras = [
      spec.env ? `env ${spec.env}` : "",
      spec.default !== undefined && spec.default !== "" ? `default ${spec.default}` : "",
    ].filter(Boolean).join("; ");
    return { left, right: spec.description + (extras ? ` (${extras})` : "") };
  });
  const width = Math.max(0, ...rows.map((r) => r.left.length)) + 2;
  const lines = rows.map((r) => r.left.padEnd(width) + r.right);
  return `Usage: ${synopsis}\n\n${summary}\n\nFlags:\n${lines.join("\n")}\n`;
}

/** The logging flags every role shares. */
export const LOG_FLAGS: readonly FlagSpec[] = [
  {
    name: "log-level",
    type: "choice",
    choices: ["debug", "info", "warn", "error"],
    env: "LOG_LEVEL",
    default: "info",
    value: "LEVEL",
    description: "least severe level printed: debug, info, warn or error",
  },
  {
    name: "log-format",
    type: "choice",
    choices: ["text", "json"],
    env: "LOG_FORMAT",
    default: "text",
    value: "FORMAT",
    description: "text for human lines, json for one JSON object a line",
  },
  { name: "help", short: "h", type: "boolean", description: "print this help and exit" },
];
