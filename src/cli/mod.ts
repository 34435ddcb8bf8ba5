// The door of src/cli: the command line of burrow's three roles (agent, hub, wg). main.ts
// enters here.

export { main, mainUsage, ROLES } from "./main.ts";
export type { Role } from "./role.ts";
export { UsageError } from "./flags.ts";
