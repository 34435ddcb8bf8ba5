// The command line: `burrow ROLE [flags]`, `burrow version`, `burrow --help`.

import { UsageError } from "./flags.ts";
import { type Role, startRole } from "./role.ts";
import { agentRole } from "./agent_role.ts";
import { hubRole } from "./hub_role.ts";
import { wgRole } from "./wg_role.ts";
import { VERSION } from "../version.ts";

export const ROLES: readonly Role[] = [agentRole, hubRole, wgRole];

/** Top-level usage: the roles and the other commands. */
export function mainUsage(): string {
  const width = Math.max(...ROLES.map((r) => r.name.length), "version".length) + 4;
  const roles = ROLES.map((r) => `  ${r.name.padEnd(width)}${r.summary}`).join("\n");
  return `Usage: burrow ROLE [flags]

burrow is a self-hostable edge agent: it joins a WireGuard network run by a hub
and exposes local services through it, driven by a local JSON API.

Roles:
${roles}

Commands:
  ${"version".padEnd(width)}print the version
  ${"help".padEnd(width)}print this help

Run "burrow ROLE --help" for the flags of a role (each names its environment variable).
`;
}

/**
 * Runs the command line and resolves to the exit code: 0 success, 1 failure, 2 usage.
 *
 * @param args arguments after the program name
 */
export async function main(
  args: readonly string[],
  env?: (name: string) => string | undefined,
): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command === undefined || command === "help" || command === "--help" || command === "-h") {
      console.log(mainUsage());
      return command === undefined ? 2 : 0;
    }
    if (command === "version" || command === "--version") {
      console.log(`burrow ${VERSION}`);
      return 0;
    }
    const role = ROLES.find((r) => r.name === command);
    if (!role) throw new UsageError(`unknown role or command "${command}" (try burrow --help)`);
    return await startRole(role, rest, env);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`burrow: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
