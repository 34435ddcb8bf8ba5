// `burrow agent`: the edge agent daemon. Flags follow Olm's names and environment variables.

import { type Flags, type FlagSpec, UsageError } from "./flags.ts";
import { checkDnsDefaults } from "./agent_dns_flags.ts";
import { CONFIG_FLAG } from "./config_file.ts";
import { DomainError } from "../errors/mod.ts";
import { readSecretFile } from "./secret_file.ts";
import { groupId } from "./unix_group.ts";
import type { Role } from "./role.ts";
import { checkAgentValues } from "./agent_checks.ts";
import { log } from "../log/mod.ts";
import { parseHostPort } from "../net/mod.ts";
import type { ConnectDefaults } from "../api/mod.ts";
import type { ConnectionParams } from "../session/mod.ts";
import type { DaemonConfig } from "../agent/mod.ts";

/** Packetriot's local API base URL is http://127.0.0.1:4100. */
export const DEFAULT_API_PORT = 4100;
/** Olm's documented socket path. */
export const DEFAULT_SOCKET_PATH = "/var/run/olm.sock";

export const AGENT_FLAGS: readonly FlagSpec[] = [
  CONFIG_FLAG,
  {
    name: "endpoint",
    type: "string",
    env: "PANGOLIN_ENDPOINT",
    value: "URL",
    description: "hub URL, e.g. https://hub.example.com",
  },
  {
    name: "id",
    type: "string",
    env: "OLM_ID",
    value: "ID",
    description: "client id issued by the hub",
  },
  {
    name: "secret",
    type: "string",
    env: "OLM_SECRET",
    value: "SECRET",
    description: "client secret issued by the hub (kept only in the state directory)",
  },
  {
    name: "secret-file",
    type: "string",
    env: "OLM_SECRET_FILE",
    value: "FILE",
    description: "file holding the client secret, so it never shows on the command line",
  },
  { name: "org", type: "string", env: "ORG", value: "ORG", description: "organization to join" },
  {
    name: "user-token",
    type: "string",
    env: "USER_TOKEN",
    value: "TOKEN",
    description: "user token sent at login",
  },
  {
    name: "mtu",
    type: "int",
    env: "MTU",
    default: "1280",
    value: "BYTES",
    description: "MTU of the tunnel interface",
  },
  {
    name: "dns",
    type: "string",
    env: "DNS",
    value: "ADDR",
    description: "DNS server (IP[:port]) resolving the hub's and peers' endpoint names",
  },
  {
    name: "upstream-dns",
    type: "string",
    env: "UPSTREAM_DNS",
    value: "ADDR",
    description: "upstream DNS servers, comma separated",
  },
  {
    name: "interface",
    type: "string",
    env: "INTERFACE",
    default: "olm",
    value: "NAME",
    description: "name of the tunnel interface",
  },
  {
    name: "enable-api",
    type: "boolean",
    env: "ENABLE_API",
    description: "serve the local API (on by default; --enable-api=false turns every listener off)",
  },
  {
    name: "http-addr",
    type: "hostport",
    env: "HTTP_ADDR",
    value: "HOST:PORT",
    description: "TCP address of the local API instead of 127.0.0.1:--api-port (port 0: any)",
  },
  {
    name: "api-port",
    type: "port",
    env: "API_PORT",
    default: String(DEFAULT_API_PORT),
    value: "PORT",
    description: "port of the local API on 127.0.0.1 (Packetriot's base URL); 0 turns TCP off",
  },
  {
    name: "socket-path",
    type: "string",
    env: "SOCKET_PATH",
    default: DEFAULT_SOCKET_PATH,
    value: "PATH",
    description: 'Unix socket of the local API (Olm\'s default); "" turns the socket off',
  },
  {
    name: "socket-mode",
    type: "mode",
    env: "SOCKET_MODE",
    default: "0660",
    value: "MODE",
    description: "file mode of the API socket",
  },
  {
    name: "socket-group",
    type: "string",
    env: "SOCKET_GROUP",
    value: "GROUP",
    description: "group (name or number) owning the API socket, for non-root operators",
  },
  {
    name: "api-token",
    type: "string",
    env: "API_TOKEN",
    value: "TOKEN",
    description: "bearer token required on the TCP API",
  },
  {
    name: "ping-interval",
    type: "duration",
    env: "PING_INTERVAL",
    default: "3s",
    value: "DURATION",
    description: "interval of peer health probes",
  },
  {
    name: "ping-timeout",
    type: "duration",
    env: "PING_TIMEOUT",
    default: "5s",
    value: "DURATION",
    description: "time after which a peer without answers is down",
  },
  {
    name: "override-dns",
    type: "boolean",
    env: "OVERRIDE_DNS",
    description: "point the host's resolver at the DNS proxy while connected (undone after)",
  },
  {
    name: "dns-proxy-ip",
    type: "string",
    env: "DNS_PROXY_IP",
    value: "IP",
    description: "address of the DNS proxy (default: first host of the hub's utility subnet)",
  },
  {
    name: "disable-holepunch",
    type: "boolean",
    env: "DISABLE_HOLEPUNCH",
    description: "relay every path through the hub (the connection given on the command line " +
      "hole-punches by default; POST /connect only with holepunch: true)",
  },
  {
    name: "state-dir",
    type: "string",
    env: "BURROW_STATE_DIR",
    default: "/var/lib/burrow",
    value: "DIR",
    description: "directory of the agent's identity, connection and rules",
  },
  {
    name: "acme-directory",
    type: "string",
    env: "BURROW_ACME_DIRECTORY",
    value: "URL",
    description: "ACME directory for useLetsEnc sites (default: Let's Encrypt)",
  },
  {
    name: "acme-email",
    type: "string",
    env: "BURROW_ACME_EMAIL",
    value: "EMAIL",
    description: "contact address of the ACME account",
  },
  {
    name: "hub-ca",
    type: "string",
    env: "HUB_CA",
    value: "FILE",
    description: "PEM CA trusted for the hub's HTTPS (besides the system's roots)",
  },
  {
    name: "tls-client-cert",
    type: "string",
    env: "TLS_CLIENT_CERT",
    value: "FILE",
    description:
      "client certificate for the hub: PEM (certificate and key) or PKCS#12, no password",
  },
  {
    name: "acme-ca-file",
    type: "string",
    env: "BURROW_ACME_CA_FILE",
    value: "FILE",
    description: "PEM CA trusted for the ACME server's own HTTPS (e.g. pebble's)",
  },
];

export const agentRole: Role = {
  name: "agent",
  summary: "run the edge agent: session to a hub, WireGuard device, local API, traffic rules",
  synopsis: "burrow agent [flags]",
  description:
    "Connects to a hub when --endpoint, --id and --secret are given, else waits for POST /connect.",
  flags: AGENT_FLAGS,
  async run(flags, args) {
    const config = daemonConfig(flags);
    // Loaded here, not at start: the hub and wg roles never pay for the agent's modules.
    const { pendingUpdate, runDaemon, runUpdate } = await import("../agent/mod.ts");
    const update = pendingUpdate(config.stateDir);
    if (update) return await runUpdate(update, ["agent", ...args]);
    try {
      return await runDaemon(config);
    } catch (error) {
      // Startup refusals (the API's port or socket in use) are one line, not a trace.
      if (!(error instanceof DomainError)) throw error;
      log.error("cannot start the agent", { error: error.message });
      return 1;
    }
  },
};

/**
 * Turns the agent's flags into the daemon's configuration.
 *
 * @throws {UsageError} for values the flag table cannot check alone
 */
export function daemonConfig(flags: Flags): DaemonConfig {
  checkAgentValues(flags);
  const secret = agentSecret(flags);
  const userToken = flags.string("user-token");
  const apiToken = flags.string("api-token");
  for (const value of [secret, userToken, apiToken]) log.addSecret(value);
  const api = apiListeners(flags);

  const upstreamDns = flags.string("upstream-dns")?.split(",").map((s) => s.trim()).filter(
    Boolean,
  );
  const defaults: ConnectDefaults = {
    mtu: flags.number("mtu") ?? 1280,
    interfaceName: flags.string("interface") ?? "olm",
    // As in Olm: /connect's `holepunch` defaults to false whatever the command line says.
    holepunch: false,
    pingIntervalMs: flags.number("ping-interval") ?? 3000,
    pingTimeoutMs: flags.number("ping-timeout") ?? 5000,
    ...optional("orgId", flags.string("org")),
    ...optional("userToken", userToken),
    ...optional("dns", flags.string("dns")),
    ...(upstreamDns?.length ? { upstreamDns } : {}),
    ...optional("dnsProxyIP", flags.string("dns-proxy-ip")),
    ...(flags.boolean("override-dns") ? { overrideDns: true } : {}),
    ...optional("tlsClientCert", flags.string("tls-client-cert")),
  };
  checkDnsDefaults(defaults);
  if (defaults.interfaceName.length > 15) {
    throw new UsageError(`invalid value for --interface: at most 15 characters`);
  }

  const endpoint = flags.string("endpoint"), id = flags.string("id");
  let connectAtStart: ConnectionParams | undefined;
  if (endpoint && id && secret) {
    try {
      new URL(endpoint);
    } catch {
      throw new UsageError(`invalid value for --endpoint: expected a URL such as https://hub`);
    }
    connectAtStart = {
      endpoint,
      id,
      secret,
      ...defaults,
      holepunch: !flags.boolean("disable-holepunch"),
    };
  }
  return {
    stateDir: flags.string("state-dir") ?? "/var/lib/burrow",
    api: { ...api, apiToken },
    defaults,
    connectAtStart,
    ...optional("hubCaFile", flags.string("hub-ca")),
    acme: {
      ...optional("directoryUrl", flags.string("acme-directory")),
      ...optional("email", flags.string("acme-email")),
      ...optional("caFile", flags.string("acme-ca-file")),
    },
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value ? { [key]: value } : {}) as { [P in K]?: string };
}

/** `--secret` or the first line of `--secret-file`, never both. */
function agentSecret(flags: Flags): string | undefined {
  const file = flags.string("secret-file");
  if (!file) return flags.string("secret");
  if (flags.string("secret") !== undefined) {
    throw new UsageError("give --secret or --secret-file, not both");
  }
  return readSecretFile(file, "--secret-file");
}

/**
 * The local API's listeners. With no API flag both of the specs' defaults are served: TCP at
 * 127.0.0.1:4100 (Packetriot) and the Unix socket /var/run/olm.sock (Olm). `--api-port 0`
 * turns TCP off, `--socket-path ""` the socket, `--enable-api=false` both; `--http-addr`
 * replaces the TCP address (a missing host means loopback).
 */
function apiListeners(flags: Flags): Omit<DaemonConfig["api"], "apiToken"> {
  const socketMode = flags.number("socket-mode") ?? 0o660;
  if (flags.has("enable-api") && !flags.boolean("enable-api")) return { socketMode };
  const httpAddr = flags.string("http-addr");
  const apiPort = flags.number("api-port") ?? DEFAULT_API_PORT;
  if (httpAddr !== undefined && flags.sources.get("api-port") !== "default") {
    throw new UsageError("give --http-addr or --api-port, not both");
  }
  let tcp: DaemonConfig["api"]["tcp"];
  if (httpAddr !== undefined) {
    const parsed = parseHostPort(httpAddr)!;
    tcp = { hostname: parsed.host || "127.0.0.1", port: parsed.port };
  } else if (apiPort !== 0) {
    tcp = { hostname: "127.0.0.1", port: apiPort };
  }
  const socketPath = flags.string("socket-path") || undefined;
  const group = flags.string("socket-group");
  if (group !== undefined && !socketPath) {
    throw new UsageError("--socket-group needs a socket (--socket-path)");
  }
  return {
    socketPath,
    socketMode,
    tcp,
    ...(group !== undefined ? { socketGroup: groupId(group, "--socket-group") } : {}),
  };
}
