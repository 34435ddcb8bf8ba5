// Reads the Host of the first HTTP/1.x request on a connection so port 80 can be routed by
// domain; the bytes themselves are relayed untouched. Pure: bytes in, a verdict out.

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

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/** A complete, closing HTTP/1.1 answer for refusals (404, 403, 502 ...). */
export function plainResponse(status: number, reason: string, body: string): Uint8Array {
  const text = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${new TextEncoder().encode(body).length}\r\nconnection: close\r\n\r\n${body}`;
  return new TextEncoder().encode(text);
}
