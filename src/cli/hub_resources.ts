// `burrow hub resource add|list|remove` and the org part of `burrow hub client add`: the hub's
// private resources, managed in its state directory (a running hub picks changes up by itself).
// Bad input is one line on stderr and exit code 2, with nothing changed.

import { type Flags, type FlagSpec, UsageError } from "./flags.ts";
import { isDomainError } from "../errors/mod.ts";
import type { Access, ResourceStore } from "../hub/mod.ts";

/** The hub's modules, loaded only when a hub command runs (as in ./hub_role.ts). */
const hubModule = () => import("../hub/mod.ts");

export const RESOURCE_FLAGS: readonly FlagSpec[] = [
  {
    name: "site",
    type: "string",
    value: "CLIENT_ID",
    description: "the agent publishing the resource on its network (hub resource add)",
  },
  {
    name: "destination",
    type: "string",
    value: "IP|CIDR",
    description: "address or network of the resource, as the site reaches it (hub resource add)",
  },
  {
    name: "alias",
    type: "string",
    value: "NAME",
    description: "hostname clients' DNS proxies answer with the destination (hub resource add)",
  },
  {
    name: "access",
    type: "string",
    value: "IDS|all",
    description: "client ids allowed to reach the resource, comma separated, or all (default)",
  },
  {
    name: "org",
    type: "string",
    value: "ORG",
    description: "organization of a resource, or of a new client (repeatable); default: default",
  },
];

/** Every value of a repeatable flag in the raw arguments (`--org A --org=B,C`). */
export function repeatedFlag(args: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === `--${name}` && i + 1 < args.length) out.push(args[++i]);
    else if (arg.startsWith(`--${name}=`)) out.push(arg.slice(name.length + 3));
  }
  return out.flatMap((value) => value.split(",")).map((v) => v.trim()).filter(Boolean);
}

/** Runs `fn`; a domain refusal becomes one line and exit code 2. */
async function refusalsExit2(fn: () => number | Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (error) {
    if (isDomainError(error)) {
      console.error(`burrow: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

/** `burrow hub resource ...` */
export function runResourceCommand(
  flags: Flags,
  positionals: string[],
  rawArgs: readonly string[],
): Promise<number> {
  const stateDir = flags.string("state-dir")!;
  const [action, ...more] = positionals;
  return refusalsExit2(() => {
    if (action === "add") {
      if (more.length) throw new UsageError("hub resource add takes no arguments besides flags");
      const site = flags.string("site"), destination = flags.string("destination");
      if (!site || !destination) {
        throw new UsageError("hub resource add needs --site CLIENT_ID and --destination IP|CIDR");
      }
      const orgs = repeatedFlag(rawArgs, "org");
      if (orgs.length > 1) throw new UsageError("a resource belongs to one --org");
      const accessText = flags.string("access");
      const access: Access | undefined = accessText === undefined
        ? undefined
        : accessText.trim() === "all"
        ? "all"
        : accessText.split(",").map((id) => id.trim()).filter(Boolean);
      return withStore(stateDir, (store) => {
        const resource = store.add({
          site,
          destination,
          alias: flags.string("alias"),
          access,
          org: orgs[0],
        });
        console.log(JSON.stringify(resource));
        return 0;
      });
    }
    if (action === "list") {
      if (more.length) throw new UsageError("hub resource list takes no arguments");
      return withStore(stateDir, (store) => {
        console.log(JSON.stringify(store.list(), null, 2));
        return 0;
      });
    }
    if (action === "remove") {
      if (more.length !== 1) throw new UsageError("hub resource remove takes one resource ID");
      return withStore(stateDir, (store) => {
        if (!store.remove(more[0])) {
          console.error(`burrow: no resource ${JSON.stringify(more[0])}`);
          return 2;
        }
        console.log(JSON.stringify({ removed: more[0] }));
        return 0;
      });
    }
    throw new UsageError(
      `unknown hub resource command ${JSON.stringify(action ?? "")}: use add, list or remove`,
    );
  });
}

/** Puts a just-added client into its `--org`s (none given: `default`). */
export function setClientOrgs(
  stateDir: string,
  clientId: string,
  rawArgs: readonly string[],
): Promise<number> {
  return refusalsExit2(() =>
    withStore(stateDir, (store) => {
      store.setOrgs(clientId, repeatedFlag(rawArgs, "org"));
      return 0;
    })
  );
}

/** The orgs a client may be put in, checked before the client is created. */
export function checkClientOrgs(rawArgs: readonly string[]): Promise<number> {
  return refusalsExit2(async () => {
    const { checkOrg } = await hubModule();
    for (const org of repeatedFlag(rawArgs, "org")) checkOrg(org);
    return 0;
  });
}

async function withStore<T>(stateDir: string, fn: (store: ResourceStore) => T): Promise<T> {
  const { ResourceStore } = await hubModule();
  const store = ResourceStore.open(stateDir);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}
