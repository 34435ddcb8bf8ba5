// The agent's HTTP engine for one relayed connection (plain after the PROXY header, or
// decrypted by the TLS terminator): routes each request by Host to a site, answers ACME
// challenges, redirects, firewall refusals and webRoot files itself, and proxies everything else
// to the upstream byte for byte, so chunked bodies, streams and WebSocket upgrades pass through.

import {
  type ByteStream,
  closeQuietly,
  formatRequestHead,
  formatResponseHead,
  headerHasToken,
  type HeaderList,
  headerValue,
  HttpWireError,
  parseIp,
  parseRequestHead,
  parseResponseHead,
  relay,
  type RequestHead,
  writeAll,
} from "../net/mod.ts";
import { ACME_CHALLENGE_PREFIX, type FirewallCheck, type HttpsRule } from "../protocol/mod.ts";
import {
  BufferedReader,
  copyBody,
  DISCARD,
  requestFraming,
  responseFraming,
  writeHeadWithBufferedBody,
} from "./http_body.ts";
import { contentTypeOf, lookupStatic, parseRange } from "./static_files.ts";

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
}

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
const FILE_CHUNK_BYTES = 64 * 1024;
/** How long a connection may wait for (the rest of) the next request head. */
export const REQUEST_HEAD_TIMEOUT_MS = 60_000;

interface UpstreamConn {
  key: string;
  conn: ByteStream;
  reader: BufferedReader;
}

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
  try {
    while (true) {
      let head: RequestHead;
      // An idle or trickling client may hold a connection only so long between requests.
      const idle = setTimeout(() => closeQuietly(client), REQUEST_HEAD_TIMEOUT_MS);
      try {
        const text = await reader.readHead();
        if (text === null) return;
        head = parseRequestHead(text);
      } catch (error) {
        if (!(error instanceof HttpWireError)) throw error;
        await answer(client, 400, "Bad Request", "bad request\n", false);
        return;
      } finally {
        clearTimeout(idle);
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
          await copyBody(reader, DISCARD, requestFraming(head));
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
              await answer(client, 502, "Bad Gateway", "upstream unreachable\n", false);
              return;
            }
          }
          outcome = await proxyRequest(head, reader, client, upstream, site, {
            from,
            scheme,
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
        await copyBody(reader, DISCARD, requestFraming(head));
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

async function dialUpstream(target: Upstream, key: string): Promise<UpstreamConn> {
  const conn = target.tls
    ? await Deno.connectTls({ hostname: target.hostname, port: target.port })
    : noDelay(await Deno.connect({ hostname: target.hostname, port: target.port }));
  return { key, conn, reader: new BufferedReader(conn) };
}

type ProxyOutcome = "reuse" | "client-only" | "closed" | "retry";

async function proxyRequest(
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

async function serveStatic(
  client: ByteStream,
  head: RequestHead,
  root: string,
  path: string,
  keepAlive: boolean,
): Promise<void> {
  if (head.method !== "GET" && head.method !== "HEAD") {
    await answer(client, 405, "Method Not Allowed", "method not allowed\n", keepAlive, undefined, [
      ["Allow", "GET, HEAD"],
    ]);
    return;
  }
  const found = await lookupStatic(root, path);
  if (found.kind === "forbidden") {
    await answer(client, 403, "Forbidden", "forbidden\n", keepAlive);
    return;
  }
  if (found.kind === "not-found") {
    await answer(client, 404, "Not Found", "not found\n", keepAlive);
    return;
  }
  if (found.kind === "redirect") {
    await answer(client, 301, "Moved Permanently", "", keepAlive, undefined, [[
      "Location",
      found.location,
    ]]);
    return;
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(found.path, { read: true });
  } catch {
    await answer(client, 403, "Forbidden", "forbidden\n", keepAlive);
    return;
  }
  try {
    const range = parseRange(headerValue(head.headers, "range"), found.size);
    if (range.kind === "unsatisfiable") {
      await answer(client, 416, "Range Not Satisfiable", "", keepAlive, undefined, [[
        "Content-Range",
        `bytes */${found.size}`,
      ]]);
      return;
    }
    const start = range.kind === "partial" ? range.start : 0;
    const end = range.kind === "partial" ? range.end : found.size - 1;
    const length = Math.max(0, end - start + 1);
    const headers: HeaderList = [
      ["Content-Type", contentTypeOf(found.path)],
      ["Content-Length", String(length)],
      ["Accept-Ranges", "bytes"],
      ["Connection", keepAlive ? "keep-alive" : "close"],
    ];
    if (found.mtime) headers.push(["Last-Modified", found.mtime.toUTCString()]);
    if (range.kind === "partial") {
      headers.push(["Content-Range", `bytes ${start}-${end}/${found.size}`]);
    }
    const headBytes = formatResponseHead({
      version: "HTTP/1.1",
      status: range.kind === "partial" ? 206 : 200,
      reason: range.kind === "partial" ? "Partial Content" : "OK",
      headers,
    });
    if (head.method === "HEAD" || length === 0) {
      await writeAll(client, headBytes);
      return;
    }
    await file.seek(start, Deno.SeekMode.Start);
    // A small file goes out with its head in one write; a large one streams in chunks.
    const first = Math.min(length, FILE_CHUNK_BYTES);
    const buffer = new Uint8Array(headBytes.length + first);
    buffer.set(headBytes);
    let filled = 0;
    while (filled < first) {
      const n = await file.read(buffer.subarray(headBytes.length + filled));
      if (n === null) throw new Deno.errors.UnexpectedEof("file shrank while sending");
      filled += n;
    }
    await writeAll(client, buffer);
    let left = length - first;
    const chunk = buffer.subarray(0, Math.min(left, FILE_CHUNK_BYTES));
    while (left > 0) {
      const n = await file.read(chunk.subarray(0, Math.min(left, chunk.length)));
      if (n === null) throw new Deno.errors.UnexpectedEof("file shrank while sending");
      await writeAll(client, chunk.subarray(0, n));
      left -= n;
    }
  } finally {
    file.close();
  }
}

async function answer(
  client: ByteStream,
  status: number,
  reason: string,
  body: string,
  keepAlive: boolean,
  contentType = "text/plain; charset=utf-8",
  extra: HeaderList = [],
): Promise<void> {
  const bytes = new TextEncoder().encode(body);
  const head = formatResponseHead({
    version: "HTTP/1.1",
    status,
    reason,
    headers: [
      ["Content-Type", contentType],
      ["Content-Length", String(bytes.length)],
      ["Connection", keepAlive ? "keep-alive" : "close"],
      ...extra,
    ],
  });
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  await writeAll(client, out);
}

/** Errors that mean the peer went away; they end a connection quietly. */
export function isConnectionError(error: unknown): boolean {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof HttpWireError ||
    (error instanceof Error && error.name === "InvalidData");
}

/**
 * Turns Nagle's algorithm off: requests and answers are small writes that must leave at once
 * (with it on, each one waits for the peer's delayed ACK, about 40 ms).
 */
export function noDelay<T extends Deno.Conn>(conn: T): T {
  try {
    (conn as unknown as Deno.TcpConn).setNoDelay?.(true);
  } catch {
    // Not a TCP socket (or closed already): nothing to tune.
  }
  return conn;
}
