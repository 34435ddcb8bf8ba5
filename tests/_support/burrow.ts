// Real burrow processes for tests: the repo's launcher, `burrow hub client add`, `burrow hub`
// and `burrow agent` started in a test's namespace (or on this host), and the agent's local API
// over its Unix socket. Stop what these start with stopProcess from ./netns.ts.

import { curlAnswer, type HttpAnswer } from "./curl.ts";
import {
  type Netns,
  run,
  spawn,
  type SpawnOptions,
  stopProcess,
  waitFor,
  waitForTcp,
} from "./netns.ts";

/** The repository root, with a trailing slash. */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;
/** The launcher that runs main.ts with the pinned Deno. */
export const BURROW = `${REPO_ROOT}burrow`;
/** The pinned Deno, for helper scripts a test runs beside burrow. */
export const DENO = `${REPO_ROOT}.tools/bin/deno`;
/** Where `startHub` has the hub's control server listen (on every address of its namespace). */
export const HUB_CONTROL_PORT = 8443;

export interface ClientCredentials {
  id: string;
  secret: string;
}

/** Runs `burrow ARGS` inside `ns`, or on this host when `ns` is null; stop it with stopProcess. */
export function spawnBurrow(
  ns: Netns | null,
  args: string[],
  options: SpawnOptions = {},
): Deno.ChildProcess {
  const cmd = [BURROW, ...args];
  return ns ? ns.spawn(cmd, options) : spawn(cmd, options);
}

/** `burrow hub client add`: a new agent identity in the hub's state directory. */
export async function addHubClient(
  stateDir: string,
  name: string,
  extra: string[] = [],
): Promise<ClientCredentials> {
  const result = await run([
    BURROW,
    "hub",
    "client",
    "add",
    "--state-dir",
    stateDir,
    "--name",
    name,
    ...extra,
  ]);
  return JSON.parse(result.stdout);
}

/** The control endpoint agents log in to, as `--endpoint` takes it. */
export function hubEndpoint(publicHost: string): string {
  return `http://${publicHost}:${HUB_CONTROL_PORT}`;
}

export interface HubOptions extends SpawnOptions {
  stateDir: string;
  /** The address agents and internet clients reach the hub at. */
  publicHost: string;
  /** The hub's WireGuard interface name. */
  interface: string;
  /** Public TCP ports for agents, e.g. "22000-22009". */
  portRange: string;
  /** `--wg-device`; burrow's default when absent. */
  wgDevice?: string;
  logLevel?: string;
  /** @default 30 s */
  startTimeoutMs?: number;
}

/**
 * Starts `burrow hub` in `ns` and waits until its control port at `publicHost` accepts
 * connections from `reachableFrom`. A hub that does not answer in time is stopped and the
 * wait's error thrown.
 */
export async function startHub(
  ns: Netns,
  reachableFrom: Netns,
  options: HubOptions,
): Promise<Deno.ChildProcess> {
  const { stateDir, publicHost, interface: ifname, portRange, wgDevice, logLevel } = options;
  const child = spawnBurrow(ns, [
    "hub",
    "--state-dir",
    stateDir,
    "--listen",
    `0.0.0.0:${HUB_CONTROL_PORT}`,
    "--public-host",
    publicHost,
    ...(wgDevice ? ["--wg-device", wgDevice] : []),
    "--interface",
    ifname,
    "--port-range",
    portRange,
    ...(logLevel ? ["--log-level", logLevel] : []),
  ], options);
  try {
    await waitForTcp(reachableFrom, publicHost, HUB_CONTROL_PORT, options.startTimeoutMs ?? 30_000);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return child;
}

export interface AgentOptions extends SpawnOptions {
  stateDir: string;
  /**
   * The local API's Unix socket; none when absent. Without `--api-port`/`--http-addr` in
   * `args` no TCP listener either: the agent's defaults (127.0.0.1:4100, /var/run/olm.sock)
   * would clash between agents on one host.
   */
  socket?: string;
  /** The agent's WireGuard interface name. */
  interface?: string;
  /** Any further flags (endpoint, id, secret, ping interval, log level, ...). */
  args?: string[];
}

/** Starts `burrow agent` in `ns` (on this host when null). */
export function startAgent(ns: Netns | null, options: AgentOptions): Deno.ChildProcess {
  const args = options.args ?? [];
  const tcpGiven = args.some((arg) => /^--?(api-port|http-addr)(=|$)/.test(arg));
  return spawnBurrow(ns, [
    "agent",
    "--state-dir",
    options.stateDir,
    `--socket-path=${options.socket ?? ""}`,
    ...(tcpGiven ? [] : ["--api-port", "0"]),
    ...(options.interface ? ["--interface", options.interface] : []),
    ...(options.args ?? []),
  ], options);
}

/** The agent's login flags for a hub client made by addHubClient. */
export function loginFlags(endpoint: string, credentials: ClientCredentials): string[] {
  return ["--endpoint", endpoint, "--id", credentials.id, "--secret", credentials.secret];
}

/**
 * Keeps everything a child writes to a piped stream (its stderr by default), e.g. to check
 * that a secret never reaches a log line. The returned array fills as the child writes.
 */
export function collectOutput(stream: ReadableStream<Uint8Array>): string[] {
  const chunks: string[] = [];
  (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) chunks.push(chunk);
  })().catch(() => {});
  return chunks;
}

/** One request to an HTTP API behind a Unix socket; a body that is not a string goes as JSON. */
export function unixSocketApi(
  socket: string,
): (method: string, path: string, body?: unknown) => Promise<HttpAnswer> {
  return (method, path, body) => {
    const args = ["--unix-socket", socket, "-X", method];
    if (body !== undefined) {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      args.push("-H", "Content-Type: application/json", "--data-binary", text);
    }
    return curlAnswer(null, [...args, `http://localhost${path}`]);
  };
}

/** The agent's `GET /status` through its Unix socket. */
export async function agentStatus<T = Record<string, unknown>>(socket: string): Promise<T> {
  return (await unixSocketApi(socket)("GET", "/status")).json<T>();
}

/** Polls the agent's `/status` until `ready` holds; throws after `timeoutMs`. */
export function waitForAgentStatus<T = Record<string, unknown>>(
  socket: string,
  what: string,
  ready: (status: T) => boolean,
  timeoutMs = 30_000,
): Promise<void> {
  return waitFor(what, async () => ready(await agentStatus<T>(socket)), timeoutMs);
}
