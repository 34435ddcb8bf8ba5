// `--socket-group`: a group given as a number or as a name from /etc/group.

import { UsageError } from "./flags.ts";

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
