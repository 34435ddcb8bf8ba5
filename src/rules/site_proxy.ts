// The agent's reverse proxy for one request of a site with an upstream: forwards the head with
// hop-by-hop headers dropped and X-Forwarded-* set, streams the body while the answer is read,
// passes WebSocket upgrades on as a raw relay, and says whether either connection is reusable.

import {
  type ByteStream,
  formatRequestHead,
  formatResponseHead,
  headerHasToken,
  type HeaderList,
  headerValue,
  HttpWireError,
  parseResponseHead,
  relay,
  type RequestHead,
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
const FORWARDING = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
]);

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

/** What is left after one request: both connections, the client only, none, or a retry. */
export type ProxyOutcome = "reuse" | "client-only" | "closed" | "retry";

/** Proxies one request (and its answer) between the client and the upstream. */
export async function proxyRequest(
  head: RequestHead,
  clientReader: BufferedReader,
  client: ByteStream,
  upstream: UpstreamConn,
  site: CompiledSite,
  context: { from: ClientAddress; scheme: "http" | "https"; keepAlive: boolean; reused: boolean },
): Promise<ProxyOutcome> {
  const upgrade = headerHasToken(head.headers, "connection", "upgrade")
    ? headerValue(head.headers, "upgrade")
    : undefined;
  const listed = new Set(
    head.headers.filter(([name]) => name.toLowerCase() === "connection")
      .flatMap(([, value]) => value.toLowerCase().split(",").map((s) => s.trim())),
  );
  const originalHost = headerValue(head.headers, "host") ?? "";
  const headers: HeaderList = [];
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || FORWARDING.has(lower) || listed.has(lower) || lower === "host") {
      continue;
    }
    headers.push([name, value]);
  }
  headers.unshift(["Host", site.rule.rewriteHost !== "" ? site.rule.rewriteHost : originalHost]);
  headers.push(
    ["X-Forwarded-For", context.from.address],
    ["X-Forwarded-Proto", context.scheme],
    ["X-Forwarded-Host", originalHost],
    ["X-Real-IP", context.from.address],
  );
  if (upgrade !== undefined) headers.push(["Connection", "Upgrade"], ["Upgrade", upgrade]);
  // An HTTP/1.0 client cannot read a chunked answer: ask the upstream in its version.
  else headers.push(["Connection", head.version === "HTTP/1.0" ? "close" : "keep-alive"]);
  const base = site.upstream?.basePath ?? "";
  const target = base !== "" && head.target.startsWith("/") ? base + head.target : head.target;
  const forwarded: RequestHead = { method: head.method, target, version: head.version, headers };

  const requestBody = requestFraming(head);
  const retryable = context.reused && requestBody.kind === "none";
  let requestBodySent = false;
  try {
    requestBodySent = await writeHeadWithBufferedBody(
      upstream.conn,
      formatRequestHead(forwarded),
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
  let bodyDone = false;
  const body = copyBody(
    clientReader,
    upstream.conn,
    requestBodySent ? { kind: "none" } : requestBody,
  ).then(() => {
    bodyDone = true;
  });
  body.catch(() => {});

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
      await answer(client, 502, "Bad Gateway", "upstream closed\n", false);
      return "closed";
    }
    response = parseResponseHead(text);
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
  const framing = responseFraming(head.method, response);
  const upstreamReusable = framing.kind !== "close" &&
    !headerHasToken(response.headers, "connection", "close");
  const clientKeep = context.keepAlive && framing.kind !== "close";
  const responseListed = new Set(
    response.headers.filter(([name]) => name.toLowerCase() === "connection")
      .flatMap(([, value]) => value.toLowerCase().split(",").map((s) => s.trim())),
  );
  const outHeaders: HeaderList = response.headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return !(lower === "connection" || lower === "keep-alive" || lower === "proxy-connection" ||
      responseListed.has(lower));
  });
  outHeaders.push(["Connection", clientKeep ? "keep-alive" : "close"]);
  const sent = await writeHeadWithBufferedBody(
    client,
    formatResponseHead({ ...response, version: "HTTP/1.1", headers: outHeaders }),
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
