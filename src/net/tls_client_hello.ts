// The one TLS ClientHello parser: reads the server name without decrypting anything, so the
// hub routes port 443 by SNI and the agent picks a site's passthrough or terminator, while the
// raw stream is relayed untouched. Also the TLS alerts the hub sends when it refuses. Pure.

/** Largest ClientHello the hub waits for (post-quantum key shares make them a few KiB). */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;
/** The most bytes read while waiting for a ClientHello: past the parser's own limit, so the
 * parser (not the reader) decides that one is too large. */
export const CLIENT_HELLO_READ_BYTES = MAX_CLIENT_HELLO_BYTES + 128;

export type SniResult =
  | { kind: "need-more" }
  | { kind: "found"; serverName: string }
  | { kind: "no-sni" }
  | { kind: "invalid"; reason: string };

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXTENSION_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;

/**
 * Parses the start of a TLS connection.
 *
 * @param data every byte received so far
 * @returns `need-more` until the whole ClientHello is in, then the server name, `no-sni` or
 *   `invalid` (not TLS, not a ClientHello, or malformed)
 */
export function parseClientHello(data: Uint8Array): SniResult {
  // 1. Collect the handshake message from one or more handshake records.
  const handshake: number[] = [];
  let offset = 0;
  let needed = -1;
  while (needed < 0 || handshake.length < needed) {
    if (data.length < offset + 5) return incomplete(data);
    if (data[offset] !== RECORD_HANDSHAKE) {
      return { kind: "invalid", reason: "not a TLS handshake" };
    }
    if (data[offset + 1] !== 3) return { kind: "invalid", reason: "unknown TLS record version" };
    const length = (data[offset + 3] << 8) | data[offset + 4];
    if (length === 0 || length > 16384 + 2048) {
      return { kind: "invalid", reason: "bad TLS record length" };
    }
    if (data.length < offset + 5 + length) return incomplete(data);
    for (let i = 0; i < length; i++) handshake.push(data[offset + 5 + i]);
    offset += 5 + length;
    if (needed < 0 && handshake.length >= 4) {
      if (handshake[0] !== HANDSHAKE_CLIENT_HELLO) {
        return { kind: "invalid", reason: "first handshake message is not a ClientHello" };
      }
      needed = 4 + ((handshake[1] << 16) | (handshake[2] << 8) | handshake[3]);
      if (needed > MAX_CLIENT_HELLO_BYTES) {
        return { kind: "invalid", reason: "ClientHello too large" };
      }
    }
  }
  // 2. Walk the ClientHello to its extensions.
  const hello = Uint8Array.from(handshake.slice(4, needed));
  const reader = new Reader(hello);
  reader.skip(2 + 32); // legacy_version, random
  reader.skip(reader.u8()); // session id
  reader.skip(reader.u16()); // cipher suites
  reader.skip(reader.u8()); // compression methods
  if (reader.failed) return { kind: "invalid", reason: "truncated ClientHello" };
  if (reader.remaining === 0) return { kind: "no-sni" };
  const extensionsEnd = reader.position + reader.u16();
  // 3. Find server_name and its host_name entry.
  while (!reader.failed && reader.position + 4 <= extensionsEnd) {
    const type = reader.u16();
    const length = reader.u16();
    if (type !== EXTENSION_SERVER_NAME) {
      reader.skip(length);
      continue;
    }
    const listEnd = reader.position + reader.u16();
    while (!reader.failed && reader.position + 3 <= listEnd) {
      const nameType = reader.u8();
      const nameLength = reader.u16();
      const name = reader.bytes(nameLength);
      if (nameType === NAME_TYPE_HOST && name) {
        const text = String.fromCharCode(...name).toLowerCase().replace(/\.$/, "");
        if (!/^[a-z0-9.-]{1,253}$/.test(text)) {
          return { kind: "invalid", reason: "server name is not a DNS name" };
        }
        return { kind: "found", serverName: text };
      }
    }
    break;
  }
  if (reader.failed || reader.position > hello.length) {
    return { kind: "invalid", reason: "truncated ClientHello" };
  }
  return { kind: "no-sni" };
}

function incomplete(data: Uint8Array): SniResult {
  return data.length > MAX_CLIENT_HELLO_BYTES + 64
    ? { kind: "invalid", reason: "ClientHello too large" }
    : { kind: "need-more" };
}

/** TLS alert descriptions the hub sends before closing. */
export const TLS_ALERT = {
  handshakeFailure: 40,
  accessDenied: 49,
  internalError: 80,
  unrecognizedName: 112,
} as const;

/** A fatal TLS alert record (TLS 1.0 record version, as before a negotiated version). */
export function tlsAlert(description: number): Uint8Array {
  return new Uint8Array([21, 3, 1, 0, 2, 2, description]);
}

class Reader {
  position = 0;
  failed = false;
  constructor(readonly data: Uint8Array) {}
  get remaining(): number {
    return this.data.length - this.position;
  }
  u8(): number {
    if (this.remaining < 1) return this.#fail();
    return this.data[this.position++];
  }
  u16(): number {
    if (this.remaining < 2) return this.#fail();
    const value = (this.data[this.position] << 8) | this.data[this.position + 1];
    this.position += 2;
    return value;
  }
  skip(length: number): void {
    if (this.remaining < length) this.#fail();
    else this.position += length;
  }
  bytes(length: number): Uint8Array | null {
    if (this.remaining < length) {
      this.#fail();
      return null;
    }
    const out = this.data.subarray(this.position, this.position + length);
    this.position += length;
    return out;
  }
  #fail(): number {
    this.failed = true;
    this.position = this.data.length;
    return 0;
  }
}
