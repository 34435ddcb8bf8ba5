// The agent's reverse proxy for one request of a site with an upstream: forwards the head with
// hop-by-hop headers and the client's own forwarding claims dropped and X-Forwarded-*,
// X-Real-IP and Forwarded set, streams the body while the answer is read,
// passes WebSocket upgrades on as a raw relay, and says whether either connection is reusable.

import {
  type ByteStream,
  closeQuietly,
  formatResponseHead,
  headerHasToken,
  type HeaderList,
  headerValue,
  HttpWireError,
  isHeaderName,
  parseResponseHead,
  relay,
  type RequestHead,
  type ResponseHead,
  writeAll,
} from "../net/mod.ts";
import {
  BufferedReader,
  copyBody,
  requestFraming,
  responseFraming,
  writeHeadWithBufferedBody,
} from "./http_body.ts";
import type { ClientAddress, CompiledSite, Upstream } from "./site_routing.ts";
import { answer } from "./site_answer.ts";
import { isConnectionError, noDelay } from "./site_socket.ts";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
]);
// What a client says about where a request came from is never passed on: the proxy writes
// these itself. Names are compared with `_` read as `-`, because CGI-style servers (and many
// frameworks) fold `X_Forwarded_For` into the same variable as `X-Forwarded-For`.
const FORWARDING = new Set([
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-server",
  "x-real-ip",
  "x-client-ip",
]);

/** Whether a client's header claims forwarding information (any case, `_` or `-`). */
export function isForwardingHeader(name: string): boolean {
  return isForwardingLower(name.toLowerCase());
}

function isForwardingLower(lower: string): boolean {
  return FORWARDING.has(lower.includes("_") ? lower.replaceAll("_", "-") : lower);
}

/** An RFC 7239 `Forwarded` element for the client, the scheme and the Host asked for. */
export function forwardedElement(
  client: string,
  scheme: "http" | "https",
  host: string,
): string {
  const node = client.includes(":") ? `"[${client}]"` : client;
  const parts = [`for=${node}`, `proto=${scheme}`];
  if (host !== "") parts.push(`host=${quotedIfNeeded(host)}`);
  return parts.join(";");
}

function quotedIfNeeded(value: string): string {
  if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) return value;
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}

/** A kept-alive upstream connection, keyed by where it goes. */
export interface UpstreamConn {
  key: string;
  conn: ByteStream;
  reader: BufferedReader;
}

/** Opens a connection to a site's upstream. */
export async function dialUpstream(target: Upstream, key: string): Promise<UpstreamConn> {
  const conn = target.tls
    ? await Deno.connectTls({ hostname: target.hostname, port: target.port })
    : noDelay(await Deno.connect({ hostname: target.hostname, port: target.port }));
  return { key, conn, reader: new BufferedReader(conn) };
}

/** What a connection's requests share: who the client is, the scheme, the forwarding lines. */
export interface ProxyContext {
  from: ClientAddress;
  scheme: "http" | "https";
  /** The forwarding header lines last written on this connection, and the Host they name. */
  forwarding: { host: string; text: string };
}

/** What is left after one request: both connections, the client only, none, or a retry. */
export type ProxyOutcome = "reuse" | "client-only" | "closed" | "retry";

/** A Connection header's tokens, lower case; null when the head has none. */
function connectionTokens(headers: HeaderList): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (const [name, value] of headers) {
    if (!isHeaderName(name, "connection")) continue;
    tokens ??= new Set();
    for (const part of value.toLowerCase().split(",")) tokens.add(part.trim());
  }
  return tokens;
}

/**
 * The request head sent upstream, as text: hop-by-hop headers, those the client's Connection
 * lists, its Host and its forwarding claims dropped; Host (or the rule's rewrite) first, then
 * the proxy's own forwarding headers. Written straight into one string: this runs per request,
 * and its garbage was the largest share of the engine's allocations.
 */
function upstreamRequestText(
  head: RequestHead,
  site: CompiledSite,
  context: ProxyContext,
  listed: Set<string> | null,
  upgrade: string | undefined,
): string {
  let originalHost: string | undefined;
  let lines = "";
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === "host") {
      originalHost ??= value;
      continue;
    }
    if (HOP_BY_HOP.has(lower) || isForwardingLower(lower) || listed?.has(lower)) continue;
    lines += `${name}: ${value}\r\n`;
  }
  const base = site.upstream?.basePath ?? "";
  const target = base !== "" && head.target.startsWith("/") ? base + head.target : head.target;
  originalHost ??= "";
  let text = `${head.method} ${target} ${head.version}\r\nHost: ${
    site.rule.rewriteHost !== "" ? site.rule.rewriteHost : originalHost
  }\r\n${lines}${forwardingLines(context, originalHost)}`;
  if (upgrade !== undefined) text += `Connection: Upgrade\r\nUpgrade: ${upgrade}\r\n`;
  // An HTTP/1.0 client cannot read a chunked answer: ask the upstream in its version.
  else text += `Connection: ${head.version === "HTTP/1.0" ? "close" : "keep-alive"}\r\n`;
  return text + "\r\n";
}

/**
 * The proxy's own forwarding headers. The client and scheme are those of the connection, and
 * its requests nearly always name one Host, so the lines are kept for the next request.
 */
function forwardingLines(context: ProxyContext, host: string): string {
  const memo = context.forwarding;
  if (memo.text !== "" && memo.host === host) return memo.text;
  const client = context.from.address;
  memo.host = host;
  memo.text = `X-Forwarded-For: ${client}\r\nX-Forwarded-Proto: ${context.scheme}\r\n` +
    `X-Forwarded-Host: ${host}\r\nX-Real-IP: ${client}\r\nForwarded: ${
      forwardedElement(client, context.scheme, host)
    }\r\n`;
  return memo.text;
}

/**
 * The response head sent to the client, as text: HTTP/1.1, the upstream's Connection,
 * Keep-Alive, Proxy-Connection and what its Connection lists dropped, Content-Length dropped
 * beside a Transfer-Encoding, and our own Connection.
 */
function clientResponseText(response: ResponseHead, keepAlive: boolean): string {
  const listed = connectionTokens(response.headers);
  let chunked = false;
  for (const [name] of response.headers) {
    if (isHeaderName(name, "transfer-encoding")) chunked = true;
  }
  let text = `HTTP/1.1 ${response.status} ${response.reason}\r\n`;
  for (const [name, value] of response.headers) {
    const lower = name.toLowerCase();
    if (
      lower === "connection" || lower === "keep-alive" || lower === "proxy-connection" ||
      listed?.has(lower) ||
      // Transfer-Encoding overrides a Content-Length, which must not travel on beside it.
      (lower === "content-length" && chunked)
    ) {
      continue;
    }
    text += `${name}: ${value}\r\n`;
  }
  return text + `Connection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`;
}

/** Proxies one request (and its answer) between the client and the upstream. */
export async function proxyRequest(
  head: RequestHead,
  clientReader: BufferedReader,
  client: ByteStream,
  upstream: UpstreamConn,
  site: CompiledSite,
  context: ProxyContext & { keepAlive: boolean; reused: boolean },
): Promise<ProxyOutcome> {
  const listed = connectionTokens(head.headers);
  const upgrade = listed?.has("upgrade") ? headerValue(head.headers, "upgrade") : undefined;
  const requestText = upstreamRequestText(head, site, context, listed, upgrade);

  const requestBody = requestFraming(head);
  const retryable = context.reused && requestBody.kind === "none";
  let requestBodySent = false;
  try {
    requestBodySent = await writeHeadWithBufferedBody(
      upstream.conn,
      requestText,
      clientReader,
      requestBody,
    );
  } catch (error) {
    if (!isConnectionError(error)) throw error;
    if (retryable) return "retry";
    await answer(client, 502, "Bad Gateway", "upstream closed\n", false);
    return "closed";
  }
  // The request body flows while the response is read: an upstream may answer 100 Continue
  // (or an early error) before it reads the body.
  let bodyDone = requestBodySent;
  let bodyError: unknown = null;
  const body = requestBodySent ? undefined : copyBody(clientReader, upstream.conn, requestBody)
    .then(() => {
      bodyDone = true;
    }, (error) => {
      // A malformed chunk or a client gone mid-body: the upstream would wait for the rest.
      bodyError = error;
      closeQuietly(upstream.conn);
    });

  let response;
  while (true) {
    let text: string | null;
    try {
      text = await upstream.reader.readHead();
    } catch (error) {
      if (!(error instanceof HttpWireError) && !isConnectionError(error)) throw error;
      text = null;
    }
    if (text === null) {
      if (retryable) return "retry";
      if (bodyError instanceof HttpWireError) {
        await answer(client, 400, "Bad Request", `bad request: ${bodyError.message}\n`, false);
      } else if (bodyError === null) {
        await answer(client, 502, "Bad Gateway", "upstream closed\n", false);
      }
      return "closed";
    }
    try {
      response = parseResponseHead(text);
    } catch (error) {
      if (!(error instanceof HttpWireError)) throw error;
      await answer(client, 502, "Bad Gateway", "upstream answered malformed HTTP\n", false);
      return "closed";
    }
    if (response.status === 101 && upgrade !== undefined) {
      await writeAll(client, formatResponseHead(response));
      await relay(client, upstream.conn, { readA: clientReader, readB: upstream.reader });
      return "closed";
    }
    if (response.status >= 100 && response.status < 200) {
      await writeAll(client, formatResponseHead(response));
      continue;
    }
    break;
  }
  let framing;
  try {
    framing = responseFraming(head.method, response);
  } catch (error) {
    if (!(error instanceof HttpWireError)) throw error;
    await answer(client, 502, "Bad Gateway", "upstream answered malformed HTTP\n", false);
    return "closed";
  }
  const upstreamReusable = framing.kind !== "close" &&
    !headerHasToken(response.headers, "connection", "close");
  const clientKeep = context.keepAlive && framing.kind !== "close";
  const sent = await writeHeadWithBufferedBody(
    client,
    clientResponseText(response, clientKeep),
    upstream.reader,
    framing,
  );
  if (!sent) await copyBody(upstream.reader, client, framing);
  if (!bodyDone) {
    // The upstream answered without reading the whole body: neither side can be reused.
    return "closed";
  }
  await body;
  if (!clientKeep) return "closed";
  return upstreamReusable ? "reuse" : "client-only";
}
