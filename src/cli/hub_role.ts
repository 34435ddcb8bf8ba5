// `burrow hub`: the server agents connect to, and `burrow hub client add|list|remove` to
// manage the clients in its state directory (a running hub follows those changes).

import { type Flags, type FlagSpec, UsageError } from "./flags.ts";
import type { Role } from "./role.ts";
import { CONFIG_FLAG } from "./config_file.ts";
import { log } from "../log/mod.ts";
import { parseHostPort } from "../net/mod.ts";
import type { Hub, TunnelFactory } from "../hub/mod.ts";
import { startServiceNotify } from "../net/mod.ts";
import {
  checkClientOrgs,
  RESOURCE_FLAGS,
  runResourceCommand,
  setClientOrgs,
} from "./hub_resources.ts";

export const HUB_FLAGS: readonly FlagSpec[] = [
  CONFIG_FLAG,
  {
    name: "state-dir",
    type: "string",
    env: "BURROW_HUB_STATE_DIR",
    default: "/var/lib/burrow-hub",
    value: "DIR",
    description: "directory of the hub database",
  },
  {
    name: "listen",
    type: "hostport",
    env: "BURROW_HUB_LISTEN",
    default: "0.0.0.0:8443",
    value: "HOST:PORT",
    description: "address of the login endpoint and WebSocket (HTTPS with --tls-cert)",
  },
  {
    name: "public-host",
    type: "string",
    env: "BURROW_HUB_PUBLIC_HOST",
    value: "HOST",
    description: "address agents and internet clients use to reach this hub",
  },
  {
    name: "tls-cert",
    type: "string",
    env: "BURROW_HUB_TLS_CERT",
    value: "FILE",
    description: "PEM certificate of the control endpoint",
  },
  {
    name: "tls-key",
    type: "string",
    env: "BURROW_HUB_TLS_KEY",
    value: "FILE",
    description: "PEM private key of the control endpoint",
  },
  {
    name: "client-ca",
    type: "string",
    env: "BURROW_HUB_CLIENT_CA",
    value: "FILE",
    description: "PEM CA: agents must present a client certificate it signed (needs --tls-cert)",
  },
  {
    name: "metrics-addr",
    type: "hostport",
    env: "BURROW_HUB_METRICS_ADDR",
    value: "HOST:PORT",
    description: "serve Prometheus metrics at http://HOST:PORT/metrics",
  },
  {
    name: "wg-port",
    type: "port",
    env: "BURROW_HUB_WG_PORT",
    default: "51820",
    value: "PORT",
    description: "UDP port of the WireGuard endpoint",
  },
  {
    name: "tunnel-cidr",
    type: "cidr",
    env: "BURROW_HUB_TUNNEL_CIDR",
    default: "100.89.128.0/20",
    value: "CIDR",
    description: "tunnel network handed out to agents (the hub takes the first address)",
  },
  {
    name: "port-range",
    type: "portrange",
    env: "BURROW_HUB_PORT_RANGE",
    default: "22000-22999",
    value: "FIRST-LAST",
    description: "public TCP ports allocated to agents",
  },
  {
    name: "relay-port",
    type: "port",
    env: "BURROW_HUB_RELAY_PORT",
    default: "21820",
    value: "PORT",
    description: "UDP port relaying WireGuard between agents (never decrypted)",
  },
  {
    name: "http-port",
    type: "port",
    env: "BURROW_HUB_HTTP_PORT",
    default: "80",
    value: "PORT",
    description: "public HTTP port, routed by Host",
  },
  {
    name: "https-port",
    type: "port",
    env: "BURROW_HUB_HTTPS_PORT",
    default: "443",
    value: "PORT",
    description: "public TLS port, routed by SNI without decrypting",
  },
  {
    name: "interface",
    type: "string",
    env: "BURROW_HUB_INTERFACE",
    default: "burrowhub0",
    value: "NAME",
    description: "name of the hub's WireGuard interface",
  },
  {
    name: "wg-device",
    type: "choice",
    choices: ["burrow", "wireguard-go"],
    env: "BURROW_HUB_WG_DEVICE",
    default: "burrow",
    value: "IMPL",
    description: "WireGuard implementation: burrow's own device or Debian's wireguard-go",
  },
  {
    name: "name",
    type: "string",
    value: "NAME",
    description: "label of a new client (hub client add)",
  },
  ...RESOURCE_FLAGS,
];

export const hubRole: Role = {
  name: "hub",
  summary: "run the hub that agents connect to: control, WireGuard endpoint, public ingress",
  synopsis: "burrow hub --state-dir DIR --listen HOST:PORT --public-host HOST [flags]\n" +
    "       burrow hub client add --state-dir DIR [--name NAME] [--org ORG]...\n" +
    "       burrow hub client list --state-dir DIR\n" +
    "       burrow hub client remove --state-dir DIR ID\n" +
    "       burrow hub resource add --state-dir DIR --site CLIENT_ID --destination IP|CIDR\n" +
    "                          [--alias NAME] [--access ID,...|all] [--org ORG]\n" +
    "       burrow hub resource list --state-dir DIR\n" +
    "       burrow hub resource remove --state-dir DIR ID",
  description: "Serves agent logins and sessions, allocates public ports and routes ingress.\n" +
    '"client add" prints {"id", "secret"} once; "client list" never shows secrets;\n' +
    '"client remove" ends that agent\'s session on the running hub and frees its ports and domains.',
  flags: HUB_FLAGS,
  run: runHub,
};

/** The hub's modules, loaded when the hub runs: the agent and wg roles never pay for them. */
const hubModule = () => import("../hub/mod.ts");

async function runHub(flags: Flags, args: readonly string[]): Promise<number> {
  const [command, ...rest] = flags.positionals;
  if (command === "client") return await runClientCommand(flags, rest, args);
  if (command === "resource") return await runResourceCommand(flags, rest, args);
  if (command !== undefined) throw new UsageError(`unknown hub command "${command}"`);
  return await serve(flags);
}

async function runClientCommand(
  flags: Flags,
  args: string[],
  rawArgs: readonly string[],
): Promise<number> {
  const stateDir = flags.string("state-dir")!;
  const [action, ...more] = args;
  const { HubStore, ResourceStore } = await hubModule();
  if (action === "add") {
    if (more.length) throw new UsageError("hub client add takes no arguments besides --name");
    if (await checkClientOrgs(rawArgs) !== 0) return 2;
    const store = HubStore.open(stateDir);
    let client: { id: string; secret: string };
    try {
      client = await store.addClient(flags.string("name") ?? "");
    } finally {
      store.close();
    }
    const orgs = await setClientOrgs(stateDir, client.id, rawArgs);
    if (orgs !== 0) return orgs;
    console.log(JSON.stringify({ id: client.id, secret: client.secret }));
    return 0;
  }
  if (action === "list") {
    if (more.length) throw new UsageError("hub client list takes no arguments");
    const store = HubStore.open(stateDir);
    try {
      const resources = ResourceStore.open(stateDir);
      const clients = store.listClients().map((client) => ({
        ...client,
        orgs: resources.orgsOf(client.id),
        ports: store.portsOf(client.id),
        domains: store.domainsOf(client.id),
      }));
      resources.close();
      console.log(JSON.stringify(clients, null, 2));
    } finally {
      store.close();
    }
    return 0;
  }
  if (action === "remove") {
    if (more.length !== 1) throw new UsageError("hub client remove takes one client ID");
    const store = HubStore.open(stateDir);
    try {
      if (!store.removeClient(more[0])) {
        console.error(`burrow: no client ${JSON.stringify(more[0])}`);
        return 1;
      }
    } finally {
      store.close();
    }
    console.log(JSON.stringify({ removed: more[0] }));
    return 0;
  }
  throw new UsageError(
    `unknown hub client command ${JSON.stringify(action ?? "")}: use add, list or remove`,
  );
}

async function serve(flags: Flags): Promise<number> {
  const publicHost = flags.string("public-host");
  if (!publicHost) throw new UsageError("--public-host is required to run the hub");
  const listen = parseHostPort(flags.string("listen")!)!;
  const cert = flags.string("tls-cert"), key = flags.string("tls-key");
  if (Boolean(cert) !== Boolean(key)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const clientCa = flags.string("client-ca");
  if (clientCa && !cert) throw new UsageError("--client-ca needs --tls-cert and --tls-key");
  const metricsAddr = flags.string("metrics-addr");
  const metrics = metricsAddr ? parseHostPort(metricsAddr)! : undefined;
  const { createWireguardGoDevice, Hub } = await hubModule();
  const tunnel: TunnelFactory = flags.string("wg-device") === "wireguard-go"
    ? createWireguardGoDevice
    : (await import("../tun/mod.ts")).createDevice;
  let hub: Hub;
  try {
    hub = await Hub.start({
      stateDir: flags.string("state-dir")!,
      listen: { hostname: listen.host || "0.0.0.0", port: listen.port },
      publicHost,
      tls: cert && key
        ? {
          cert: await Deno.readTextFile(cert),
          key: await Deno.readTextFile(key),
          ...(clientCa ? { clientCa: await Deno.readTextFile(clientCa) } : {}),
        }
        : undefined,
      metrics: metrics && { hostname: metrics.host || "127.0.0.1", port: metrics.port },
      wgPort: flags.number("wg-port")!,
      relayPort: flags.number("relay-port")!,
      tunnelCidr: flags.string("tunnel-cidr")!,
      portRange: flags.range("port-range")!,
      httpPort: flags.number("http-port")!,
      httpsPort: flags.number("https-port")!,
      interfaceName: flags.string("interface"),
      tunnel,
    });
  } catch (error) {
    // Startup problems (a port in use, no TUN, a bad certificate) are one clear line, not a trace.
    log.error("cannot start the hub", { error: (error as Error).message });
    return 1;
  }
  // systemd (Type=notify): READY=1 now that every listener is up, then STATUS= and WATCHDOG=1.
  const service = await startServiceNotify(() => {
    const online = hub.control.connected().length;
    return `serving, ${online} ${online === 1 ? "agent" : "agents"} online`;
  });
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const deviceGone = hub.device.closed.then(() => "device" as const);
  const why = await Promise.race([stopped.promise.then(() => "signal" as const), deviceGone]);
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (why === "device") log.error("the WireGuard device went away; stopping the hub");
  else log.info("hub stopping");
  await service.stop();
  await hub.close();
  return why === "device" ? 1 : 0;
}
