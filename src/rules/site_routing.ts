// The agent's HTTP engine for one relayed connection (plain after the PROXY header, or
// decrypted by the TLS terminator): routes each request by Host to a site, answers ACME
// challenges, redirects and firewall refusals itself, then hands the request to the site's
// upstream (site_proxy.ts) or its webRoot (site_static.ts).

import {
  type ByteStream,
  closeQuietly,
  DeadlineClock,
  headerHasToken,
  headerValue,
  HttpWireError,
  parseIp,
  parseRequestHead,
  type RequestHead,
} from "../net/mod.ts";
import { ACME_CHALLENGE_PREFIX, type FirewallCheck, type HttpsRule } from "../protocol/mod.ts";
import { BufferedReader, copyBody, DISCARD, requestFraming } from "./http_body.ts";
import { dialUpstream, type ProxyOutcome, proxyRequest, type UpstreamConn } from "./site_proxy.ts";
import { answer } from "./site_answer.ts";
import { serveStatic } from "./site_static.ts";
import { isConnectionError } from "./site_socket.ts";

/** The client as the PROXY header named it. */
export interface ClientAddress {
  address: string;
  port: number;
}

/** Where a site's requests go when it is not served from `webRoot`. */
export interface Upstream {
  hostname: string;
  port: number;
  tls: boolean;
  /** Prefix from `upstreamURL`'s path, without a trailing slash ("" for none). */
  basePath: string;
}

/** A site compiled once per rule change. */
export interface CompiledSite {
  rule: HttpsRule;
  allows: FirewallCheck;
  upstream: Upstream | null;
}

/** What the engine asks per request; answered from the live rule set. */
export interface SiteLookup {
  site(domain: string): CompiledSite | undefined;
  /** The key authorization for an HTTP-01 token, when a challenge is pending. */
  acmeChallenge(token: string): string | undefined;
  /** Told of each request a site serves and each upstream it could not reach (metrics). */
  siteEvent?(domain: string, event: SiteEvent): void;
}

/** What {@linkcode SiteLookup.siteEvent} is told. */
export type SiteEvent = "request" | "upstream_error";

/** The upstream of a site: destination+port, else upstreamURL, else null (webRoot or tls). */
export function upstreamOf(rule: HttpsRule): Upstream | null {
  if (rule.destination !== "" && rule.port !== 0) {
    return { hostname: rule.destination, port: rule.port, tls: false, basePath: "" };
  }
  if (rule.upstreamURL !== "") {
    const url = new URL(rule.upstreamURL);
    const tls = url.protocol === "https:";
    return {
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port ? Number(url.port) : tls ? 443 : 80,
      tls,
      basePath: url.pathname.replace(/\/+$/, ""),
    };
  }
  return null;
}

/** How long a connection may wait for (the rest of) the next request head. */
export const REQUEST_HEAD_TIMEOUT_MS = 60_000;

/** The idle deadlines of every connection the engine serves (one timer, not one per request). */
const idleClock = new DeadlineClock();

/**
 * Serves every request on `client` until either side closes.
 *
 * @param initial bytes already read after the PROXY header
 * @param scheme "https" when the stream was decrypted by the agent
 * @param onlyHost the one Host a decrypted stream may ask for (its TLS server name)
 */
export async function serveHttpConnection(
  client: ByteStream,
  initial: Uint8Array,
  from: ClientAddress,
  scheme: "http" | "https",
  sites: SiteLookup,
  onlyHost?: string,
): Promise<void> {
  const reader = new BufferedReader(client, initial);
  const clientIp = parseIp(from.address);
  let upstream: UpstreamConn | null = null;
  const dropUpstream = () => {
    if (upstream) closeQuietly(upstream.conn);
    upstream = null;
  };
  const forwarding = { host: "", text: "" };
  // An idle or trickling client may hold a connection only so long between requests.
  const idle = idleClock.deadline(() => closeQuietly(client));
  try {
    while (true) {
      let head: RequestHead;
      idle.arm(REQUEST_HEAD_TIMEOUT_MS);
      try {
        const text = await reader.readHead();
        if (text === null) return;
        head = parseRequestHead(text);
        // A framing the upstream might read differently (smuggling) is refused up front.
        requestFraming(head);
      } catch (error) {
        if (!(error instanceof HttpWireError)) throw error;
        await answer(client, 400, "Bad Request", `bad request: ${error.message}\n`, false);
        return;
      } finally {
        idle.disarm();
      }
      const keepAlive = head.version === "HTTP/1.1" &&
        !headerHasToken(head.headers, "connection", "close");
      const { host, path } = hostAndPath(head);
      if (host === null) {
        await answer(client, 400, "Bad Request", "missing Host\n", false);
        return;
      }
      // 1. ACME HTTP-01 challenges, before any site rule (the site may redirect or filter).
      if (scheme === "http" && path.startsWith(ACME_CHALLENGE_PREFIX)) {
        const keyAuthorization = sites.acmeChallenge(path.slice(ACME_CHALLENGE_PREFIX.length));
        if (keyAuthorization !== undefined) {
          if (!await discardBody(client, reader, head)) return;
          await answer(client, 200, "OK", keyAuthorization, keepAlive, "text/plain");
          if (!keepAlive) return;
          continue;
        }
      }
      // 2. The site, its firewall, its redirect. A decrypted stream serves only the name its
      // certificate (and the hub's SNI route and firewall) was chosen for.
      if (onlyHost !== undefined && host !== onlyHost) {
        await answer(client, 421, "Misdirected Request", "wrong host for this connection\n", false);
        return;
      }
      const site = sites.site(host);
      if (!site) {
        await answer(client, 404, "Not Found", "no site for this host\n", false);
        return;
      }
      if (!clientIp || !site.allows(clientIp)) {
        await answer(client, 403, "Forbidden", "forbidden\n", false);
        return;
      }
      if (scheme === "http" && site.rule.redirect) {
        await answer(client, 301, "Moved Permanently", "", false, "text/plain", [[
          "Location",
          `https://${host}${path.startsWith("/") ? path : "/"}`,
        ]]);
        return;
      }
      // 3. Upstream, else webRoot.
      sites.siteEvent?.(host, "request");
      if (site.upstream) {
        const key = `${site.upstream.tls}|${site.upstream.hostname}|${site.upstream.port}`;
        if (upstream && upstream.key !== key) dropUpstream();
        let outcome: ProxyOutcome = "retry";
        // A kept-alive upstream may have closed while idle: one retry on a fresh connection.
        for (let attempt = 0; outcome === "retry" && attempt < 2; attempt++) {
          const reused = upstream !== null;
          if (!upstream) {
            try {
              upstream = await dialUpstream(site.upstream, key);
            } catch {
              sites.siteEvent?.(host, "upstream_error");
              await answer(client, 502, "Bad Gateway", "upstream unreachable\n", false);
              return;
            }
          }
          outcome = await proxyRequest(head, reader, client, upstream, site, {
            from,
            scheme,
            forwarding,
            keepAlive,
            reused,
          });
          if (outcome === "retry") dropUpstream();
        }
        if (outcome === "reuse") continue;
        if (outcome === "client-only") {
          dropUpstream();
          continue;
        }
        return;
      }
      if (site.rule.webRoot !== "") {
        if (!await discardBody(client, reader, head)) return;
        await serveStatic(client, head, site.rule.webRoot, path, keepAlive);
        if (!keepAlive) return;
        continue;
      }
      await answer(client, 502, "Bad Gateway", "site has no HTTP upstream\n", false);
      return;
    }
  } catch (error) {
    if (!isConnectionError(error)) throw error;
  } finally {
    dropUpstream();
    closeQuietly(client);
  }
}

/**
 * Reads past a request body the engine does not forward.
 *
 * @returns false after answering 400 when the body's chunks are malformed
 */
async function discardBody(
  client: ByteStream,
  reader: BufferedReader,
  head: RequestHead,
): Promise<boolean> {
  try {
    await copyBody(reader, DISCARD, requestFraming(head));
    return true;
  } catch (error) {
    if (!(error instanceof HttpWireError)) throw error;
    await answer(client, 400, "Bad Request", `bad request: ${error.message}\n`, false);
    return false;
  }
}

function hostAndPath(head: RequestHead): { host: string | null; path: string } {
  if (/^https?:\/\//i.test(head.target)) {
    try {
      const url = new URL(head.target);
      return { host: url.hostname.toLowerCase(), path: url.pathname + url.search };
    } catch {
      return { host: null, path: "/" };
    }
  }
  const header = headerValue(head.headers, "host");
  if (!header) return { host: null, path: head.target };
  const host = header.toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  return { host, path: head.target };
}
