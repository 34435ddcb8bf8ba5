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
  for (let i = from; i + 3 < end; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** Bytes as latin1 text (one char per byte). */
export function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseHeaderLines(lines: string[]): HeaderList {
  const headers: HeaderList = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpWireError("malformed header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpWireError("malformed header name");
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) throw new HttpWireError("malformed header value");
    headers.push([name, value]);
  }
  return headers;
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
    headers: parseHeaderLines(lines.slice(1)),
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
    headers: parseHeaderLines(lines.slice(1)),
  };
}

/** The first value of a header, by case-insensitive name. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of headers) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** Whether a comma-separated header (Connection, Transfer-Encoding) lists `token`. */
export function headerHasToken(headers: HeaderList, name: string, token: string): boolean {
  const lower = name.toLowerCase();
  for (const [key, value] of headers) {
    if (key.toLowerCase() !== lower) continue;
    if (value.toLowerCase().split(",").some((part) => part.trim() === token)) return true;
  }
  return false;
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
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

// ---- The hub's sniffing of the first request (the bytes themselves are relayed untouched)

/** Largest request head the hub waits for before refusing (431). */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;

export type HostResult =
  | { kind: "need-more" }
  | { kind: "found"; host: string; path: string }
  | { kind: "invalid"; status: 400 | 431; reason: string };

/**
 * Parses the request head received so far.
 *
 * @param data every byte received so far
 * @returns the lower-case host without port and the request path once the head is complete
 */
export function parseRequestHost(data: Uint8Array): HostResult {
  const end = headEnd(data);
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
  const lines = latin1(data.subarray(0, end)).split(/\r?\n/);
  const requestLine = /^([A-Z]{1,16}) (\S+) HTTP\/1\.[01]$/.exec(lines[0]);
  if (!requestLine) return { kind: "invalid", status: 400, reason: "bad request line" };
  let host: string | null = null;
  const target = /^https?:\/\/([^/?#]+)/i.exec(requestLine[2]);
  if (target) host = target[1];
  // The origin-form path, also of an absolute-form target ("http://host/path").
  const path = target ? requestLine[2].slice(target[0].length) || "/" : requestLine[2];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    if (line.slice(0, colon).trim().toLowerCase() !== "host") continue;
    if (host !== null && !target) {
      return { kind: "invalid", status: 400, reason: "two Host headers" };
    }
    host ??= line.slice(colon + 1).trim();
  }
  if (!host) return { kind: "invalid", status: 400, reason: "missing Host header" };
  const name = host.replace(/:\d{1,5}$/, "").toLowerCase().replace(/\.$/, "");
  if (!/^[a-z0-9.-]{1,253}$/.test(name)) {
    return { kind: "invalid", status: 400, reason: "Host is not a DNS name" };
  }
  return { kind: "found", host: name, path };
}

function headEnd(data: Uint8Array): number {
  for (let i = 0; i + 1 < data.length; i++) {
    if (data[i] !== 10) continue;
    if (data[i + 1] === 10) return i;
    if (data[i + 1] === 13 && data[i + 2] === 10) return i;
  }
  return -1;
}

/** A complete, closing HTTP/1.1 answer for refusals (404, 403, 502 ...). */
export function plainResponse(status: number, reason: string, body: string): Uint8Array {
  const text = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${new TextEncoder().encode(body).length}\r\nconnection: close\r\n\r\n${body}`;
  return new TextEncoder().encode(text);
}
