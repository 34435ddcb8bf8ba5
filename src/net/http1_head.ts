// HTTP/1.x message heads, the one codec of burrow's HTTP: request and response heads parsed
// and written byte-exact (latin1, header names keep their case), and the hub's sniffing of a
// first request's Host for routing by domain. Pure: bytes or text in, heads or verdicts out.

/** A head's header lines in order; names keep their case, lookups ignore it. */
export type HeaderList = [string, string][];

export interface RequestHead {
  method: string;
  target: string;
  version: "HTTP/1.0" | "HTTP/1.1";
  headers: HeaderList;
}

export interface ResponseHead {
  version: string;
  status: number;
  reason: string;
  headers: HeaderList;
}

/** Thrown for a malformed head or body framing; the connection is answered 400 and closed. */
export class HttpWireError extends Error {
  override name = "HttpWireError";
}

/** Where the blank line ending a head starts in `buffer[from, end)`, or -1. */
export function indexOfBlankLine(buffer: Uint8Array, from: number, end: number): number {
  // Hops from CR to CR with the native search instead of testing every byte.
  const view = end < buffer.length ? buffer.subarray(0, end) : buffer;
  for (let i = view.indexOf(13, from); i >= 0 && i + 3 < end; i = view.indexOf(13, i + 1)) {
    if (view[i + 1] === 10 && view[i + 2] === 13 && view[i + 3] === 10) return i;
  }
  return -1;
}

const asciiDecoder = new TextDecoder();
const asciiEncoder = new TextEncoder();

/** Bytes as latin1 text (one char per byte). */
export function latin1(bytes: Uint8Array): string {
  // Heads are nearly always ASCII, which the native UTF-8 decoder turns into the same text
  // about 15 times faster than String.fromCharCode with spread arguments.
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return asciiDecoder.decode(bytes);
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The header lines of a head split at CRLF, from `lines[1]` on (the first is the start line). */
function parseHeaderLines(lines: string[]): HeaderList {
  const headers: HeaderList = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpWireError("malformed header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpWireError("malformed header name");
    // The value without its surrounding whitespace, cut once (not sliced and then trimmed).
    let start = colon + 1;
    let end = line.length;
    while (start < end && isTrimmed(line.charCodeAt(start))) start++;
    while (end > start && isTrimmed(line.charCodeAt(end - 1))) end--;
    const value = line.slice(start, end);
    if (/[\0\r\n]/.test(value)) throw new HttpWireError("malformed header value");
    headers.push([name, value]);
  }
  return headers;
}

/** Whether String.prototype.trim() would remove this char (the Latin-1 range of it). */
function isTrimmed(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0xa0 ||
    (code > 0xff && /\s/.test(String.fromCharCode(code)));
}

/** Parses a request head (request line and headers). @throws {HttpWireError} */
export function parseRequestHead(text: string): RequestHead {
  const lines = text.split("\r\n");
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) (HTTP\/1\.[01])$/.exec(lines[0]);
  if (!match) throw new HttpWireError("malformed request line");
  return {
    method: match[1],
    target: match[2],
    version: match[3] as RequestHead["version"],
    headers: parseHeaderLines(lines),
  };
}

/** Parses a response head. @throws {HttpWireError} */
export function parseResponseHead(text: string): ResponseHead {
  const lines = text.split("\r\n");
  const match = /^(HTTP\/1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!match) throw new HttpWireError("malformed status line");
  return {
    version: match[1],
    status: Number(match[2]),
    reason: match[3] ?? "",
    headers: parseHeaderLines(lines),
  };
}

/**
 * Whether header name `key` is `lower` (given in lower case), ignoring case. Names of another
 * length are told apart without lower-casing: this runs for every header of every request.
 */
export function isHeaderName(key: string, lower: string): boolean {
  return key.length === lower.length && (key === lower || key.toLowerCase() === lower);
}

/** The first value of a header, by case-insensitive name. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of headers) if (isHeaderName(key, lower)) return value;
  return undefined;
}

/** Whether a comma-separated header (Connection, Transfer-Encoding) lists `token`. */
export function headerHasToken(headers: HeaderList, name: string, token: string): boolean {
  const lower = name.toLowerCase();
  for (const [key, value] of headers) {
    if (!isHeaderName(key, lower)) continue;
    if (value.toLowerCase().split(",").some((part) => part.trim() === token)) return true;
  }
  return false;
}

// ---- Body framing (RFC 9112 section 6), one rule for the hub's edge and the agent

/** How a message's body is delimited. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * Framing of a request body. The shapes a front end and a back end could read differently are
 * refused rather than repaired (RFC 9112 section 6.3 allows either; refusing leaves nothing
 * for a smuggler to choose): `Transfer-Encoding` together with `Content-Length`,
 * `Transfer-Encoding` in an HTTP/1.0 request, codings that do not end in exactly one
 * `chunked`, and a `Content-Length` that is not one decimal number.
 *
 * @throws {HttpWireError} naming what is wrong
 */
export function requestFraming(head: RequestHead): BodyFraming {
  const transfer = transferCodings(head.headers);
  if (transfer !== null) {
    if (head.version === "HTTP/1.0") {
      throw new HttpWireError("Transfer-Encoding in an HTTP/1.0 request");
    }
    if (head.headers.some(([key]) => isHeaderName(key, "content-length"))) {
      throw new HttpWireError("both Content-Length and Transfer-Encoding");
    }
    if (transfer[transfer.length - 1] !== "chunked") {
      throw new HttpWireError("request Transfer-Encoding does not end in chunked");
    }
    if (transfer.indexOf("chunked") !== transfer.length - 1) {
      throw new HttpWireError("chunked applied twice");
    }
    return { kind: "chunked" };
  }
  return contentLength(head.headers) ?? { kind: "none" };
}

/**
 * Framing of a response body: chunked when `Transfer-Encoding` ends in `chunked` (it overrides
 * any `Content-Length`), until close for other codings, else by `Content-Length`, else until
 * close.
 *
 * @throws {HttpWireError} for a bad or conflicting `Content-Length`
 */
export function responseBodyFraming(headers: HeaderList): BodyFraming {
  const transfer = transferCodings(headers);
  if (transfer !== null) {
    return transfer[transfer.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  return contentLength(headers) ?? { kind: "close" };
}

/**
 * Every Transfer-Encoding line's codings in order, lower case; null without the header.
 *
 * @throws {HttpWireError} for a coding that is not a token (parameters aside), so that no
 *   oddly spaced `chunked` is read as chunked here and as something else further on
 */
function transferCodings(headers: HeaderList): string[] | null {
  let codings: string[] | null = null;
  for (const [key, value] of headers) {
    if (!isHeaderName(key, "transfer-encoding")) continue;
    codings ??= [];
    for (const part of value.toLowerCase().split(",")) {
      const coding = part.split(";")[0].replace(/^[ \t]+|[ \t]+$/g, "");
      if (coding === "" && part.trim() === "") continue; // an empty list element
      if (!TOKEN.test(coding)) throw new HttpWireError("malformed Transfer-Encoding");
      codings.push(coding);
    }
  }
  return codings;
}

function contentLength(headers: HeaderList): BodyFraming | null {
  // Every line and every comma-separated element must say the same value.
  let text: string | null = null;
  for (const [key, value] of headers) {
    if (!isHeaderName(key, "content-length")) continue;
    const parts = value.includes(",") ? value.split(",") : [value];
    for (const part of parts) {
      const element = part.trim();
      if (text === null) text = element;
      else if (element !== text) throw new HttpWireError("conflicting Content-Length");
    }
  }
  if (text === null) return null;
  if (!/^\d{1,15}$/.test(text)) throw new HttpWireError("bad Content-Length");
  const length = Number(text);
  return length === 0 ? { kind: "none" } : { kind: "length", length };
}

/** Serializes a request head. */
export function formatRequestHead(head: RequestHead): Uint8Array {
  let text = `${head.method} ${head.target} ${head.version}\r\n`;
  for (const [name, value] of head.headers) text += `${name}: ${value}\r\n`;
  return encodeLatin1(text + "\r\n");
}

/** Serializes a response head. */
export function formatResponseHead(head: ResponseHead): Uint8Array {
  let text = `${head.version} ${head.status} ${head.reason}\r\n`;
  for (const [name, value] of head.headers) text += `${name}: ${value}\r\n`;
  return encodeLatin1(text + "\r\n");
}

/** Latin1 text as bytes (one byte per char). */
export function encodeLatin1(text: string): Uint8Array {
  // ASCII text is the same in UTF-8, and the native encoder is faster than a loop; any other
  // char makes the UTF-8 longer than the text, which sends it to the byte-per-char loop.
  const utf8 = asciiEncoder.encode(text);
  if (utf8.length === text.length) return utf8;
  const out = new Uint8Array(text.length);
  encodeLatin1Into(text, out);
  return out;
}

/** Writes latin1 text as bytes (one byte per char) at the start of `out`, which must fit it. */
export function encodeLatin1Into(text: string, out: Uint8Array): void {
  const { read, written } = asciiEncoder.encodeInto(text, out);
  if (read === text.length && written === text.length) return;
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
}

// ---- The hub's sniffing of the first request (the bytes themselves are relayed untouched)

/** Largest request head the hub waits for before refusing (431). */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;

export type HostResult =
  | { kind: "need-more" }
  | { kind: "found"; host: string; path: string }
  | { kind: "invalid"; status: 400 | 431; reason: string };

/**
 * Parses the request head received so far, as strictly as the agent will: a head the agent
 * would refuse (bare LF line ends, a malformed line, a body framing it refuses) is refused here
 * with a 400 that says why, instead of being relayed to be dropped on the far side.
 *
 * @param data every byte received so far
 * @returns the lower-case host without port and the request path once the head is complete
 */
export function parseRequestHost(data: Uint8Array): HostResult {
  const end = indexOfBlankLine(data, 0, data.length);
  if (hasBareLf(data, end < 0 ? data.length : end + 4)) {
    return { kind: "invalid", status: 400, reason: "line ends must be CRLF" };
  }
  if (end < 0) {
    if (data.length >= MAX_REQUEST_HEAD_BYTES) {
      return { kind: "invalid", status: 431, reason: "request head too large" };
    }
    // A request line must look like one early: refuse garbage without waiting for 16 KiB.
    const firstLine = latin1(data.subarray(0, Math.min(data.length, 16)));
    if (data.length >= 4 && !/^[A-Z]{1,16}( |$)/.test(firstLine)) {
      return { kind: "invalid", status: 400, reason: "not an HTTP request" };
    }
    return { kind: "need-more" };
  }
  let head: RequestHead;
  try {
    head = parseRequestHead(latin1(data.subarray(0, end)));
    requestFraming(head);
  } catch (error) {
    if (!(error instanceof HttpWireError)) throw error;
    return { kind: "invalid", status: 400, reason: error.message };
  }
  if (!/^[A-Z]{1,16}$/.test(head.method)) {
    return { kind: "invalid", status: 400, reason: "bad request line" };
  }
  let host: string | null = null;
  const target = /^https?:\/\/([^/?#]+)/i.exec(head.target);
  if (target) host = target[1];
  // The origin-form path, also of an absolute-form target ("http://host/path").
  const path = target ? head.target.slice(target[0].length) || "/" : head.target;
  for (const [name, value] of head.headers) {
    if (name.toLowerCase() !== "host") continue;
    if (host !== null && !target) {
      return { kind: "invalid", status: 400, reason: "two Host headers" };
    }
    host ??= value;
  }
  if (!host) return { kind: "invalid", status: 400, reason: "missing Host header" };
  const name = host.replace(/:\d{1,5}$/, "").toLowerCase().replace(/\.$/, "");
  if (!/^[a-z0-9.-]{1,253}$/.test(name)) {
    return { kind: "invalid", status: 400, reason: "Host is not a DNS name" };
  }
  return { kind: "found", host: name, path };
}

/** Whether `data[0, end)` holds an LF without the CR before it. */
function hasBareLf(data: Uint8Array, end: number): boolean {
  for (let i = 0; i < end; i++) {
    if (data[i] === 10 && (i === 0 || data[i - 1] !== 13)) return true;
  }
  return false;
}

/** A complete, closing HTTP/1.1 answer for refusals (404, 403, 502 ...). */
export function plainResponse(status: number, reason: string, body: string): Uint8Array {
  const text = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${new TextEncoder().encode(body).length}\r\nconnection: close\r\n\r\n${body}`;
  return new TextEncoder().encode(text);
}
