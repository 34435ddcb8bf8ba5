// How the login and the WebSocket reach the hub when `dns` (of /connect, or --dns) names the
// server that resolves the hub's name instead of the system resolver. The name is resolved
// once per connection attempt; then
//   - https/wss: a loopback CONNECT proxy (hub_connect_proxy.ts) dials that address, and TLS
//     runs through it with the hub's name, exactly as without `dns`;
//   - http/ws: Deno's "tcp" transport sends the requests to that address (the Host header
//     keeps the name). Deno sends plain-http requests to an HTTP proxy in absolute form, not
//     as CONNECT, so the proxy is not used there.
// Without `dns`, or when the endpoint's host is an address, nothing changes.

import { parseIp } from "../net/mod.ts";
import { HubConnectProxy } from "./hub_connect_proxy.ts";
import type { HostResolver } from "./reconciliation.ts";

/** The hub's name is unknown to the `dns` server (or it did not answer). */
export class HubNameUnresolved extends Error {
  override name = "HubNameUnresolved";
  constructor(readonly host: string, readonly server: string) {
    super(`cannot resolve ${host} through the DNS server ${server}`);
  }
}

/** What the attempt's HTTP clients go through; `close` when the attempt is over. */
export interface HubRoute {
  /** For `Deno.createHttpClient`; undefined: the system resolver, directly. */
  proxy?: Deno.Proxy;
  close(): void;
}

const DIRECT: HubRoute = { close() {} };

/**
 * The route to the hub at `endpoint` (its URL) for one connection attempt.
 *
 * @param resolve the `dns` server's resolver; undefined for the system resolver
 * @param server that server, named in the error
 * @throws {HubNameUnresolved} when the server gives no address for the hub's name
 */
export async function openHubRoute(
  endpoint: string,
  resolve: HostResolver | undefined,
  server = "",
): Promise<HubRoute> {
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!resolve || parseIp(host)) return DIRECT;
  const address = await resolve(host);
  if (!address) throw new HubNameUnresolved(host, server);
  const tls = url.protocol === "https:" || url.protocol === "wss:";
  const port = Number(url.port) || (tls ? 443 : 80);
  if (!tls) return { proxy: { transport: "tcp", hostname: address, port }, close() {} };
  // The authority exactly as Deno writes it in its CONNECT line (the URL's host, port always).
  const proxy = HubConnectProxy.start({ target: `${url.hostname}:${port}`, address, port });
  return { proxy: { transport: "http", url: proxy.url }, close: () => proxy.close() };
}
