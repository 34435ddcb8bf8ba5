// What a role (agent, hub, wg) gives the command line, and the one way roles are started.

import { type Flags, type FlagSpec, formatUsage, LOG_FLAGS, parseFlags } from "./flags.ts";
import { readConfigFile } from "./config_file.ts";
import { log, type LogFormat, type LogThreshold } from "../log/mod.ts";

export interface Role {
  name: string;
  /** One line for `burrow --help`. */
  summary: string;
  synopsis: string;
  /** Longer text under the synopsis in `burrow ROLE --help`. */
  description: string;
  flags: readonly FlagSpec[];
  /** Runs the role; resolves to the process exit code. `args` are the role's raw arguments. */
  run(flags: Flags, args: readonly string[]): Promise<number>;
}

/** Every flag a role accepts: its own, then the shared logging flags it does not redefine. */
export function roleFlags(role: Role): readonly FlagSpec[] {
  const own = new Set(role.flags.map((spec) => spec.name));
  return [...role.flags, ...LOG_FLAGS.filter((spec) => !own.has(spec.name))];
}

/** The logger threshold for a --log-level value; wireguard-go's "verbose" is burrow's "debug". */
export function logThreshold(level: string | undefined): LogThreshold {
  return level === "verbose" ? "debug" : (level ?? "info") as LogThreshold;
}

/** Usage text for `burrow ROLE --help`. */
export function roleUsage(role: Role): string {
  return formatUsage(role.synopsis, role.description, roleFlags(role));
}

/**
 * Parses the role's flags, prints help when asked, applies the logging flags and runs it.
 *
 * @throws {UsageError} for a bad command line (the caller prints it and exits 2)
 */
export async function startRole(
  role: Role,
  args: readonly string[],
  env?: (name: string) => string | undefined,
): Promise<number> {
  const specs = roleFlags(role);
  const flags = parseFlags(specs, args, env, (soFar) => readConfigFile(soFar, specs));
  if (flags.boolean("help")) {
    console.log(roleUsage(role));
    return 0;
  }
  log.level = logThreshold(flags.string("log-level"));
  log.format = flags.string("log-format") as LogFormat;
  return await role.run(flags, args);
}
