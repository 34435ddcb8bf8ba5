// Address parsing shared by the CLI, the API validators, firewall rules and allowed IPs:
// text in, bytes out, nothing thrown for bad input.

/** An IP network: address bytes (4 or 16) masked to `bits`. */
export interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

/**
 * Parses a dotted-quad IPv4 or an RFC 4291 IPv6 address (with `::` and an embedded IPv4 tail).
 *
 * @param text the address, without brackets or zone
 * @returns 4 or 16 bytes, or null when `text` is not an address
 */
export function parseIp(text: string): Uint8Array | null {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part[0] === "0")) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 2 && halves[1] !== "" ? halves[1].split(":") : [];
  const words: number[] = [];
  const all = [...head, ...tail];
  for (let i = 0; i < all.length; i++) {
    const group = all[i];
    if (group.includes(".")) {
      // An IPv4 tail is only allowed as the last group.
      if (i !== all.length - 1) return null;
      const v4 = parseIpv4(group);
      if (!v4) return null;
      words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
      words.push(parseInt(group, 16));
    }
  }
  const headWords = head.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  if (halves.length === 1 ? words.length !== 8 : words.length > 7) return null;
  const out = new Uint8Array(16);
  const zeros = 8 - words.length;
  let w = 0;
  for (let i = 0; i < 8; i++) {
    let value: number;
    if (halves.length === 2 && i >= headWords && i < headWords + zeros) value = 0;
    else value = words[w++];
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  }
  return out;
}

/**
 * Parses `ADDRESS/BITS` (a bare address means a host route) and masks the host bits.
 *
 * @returns the network, or null when `text` is not a CIDR
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!bytes) return null;
  const max = bytes.length * 8;
  let bits = max;
  if (slash >= 0) {
    const suffix = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(suffix)) return null;
    bits = Number(suffix);
    if (bits > max) return null;
  }
  return { bytes: maskBytes(bytes, bits), bits };
}

/** Clears every bit after the first `bits` of a copy of `bytes`. */
export function maskBytes(bytes: Uint8Array, bits: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] &= keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/** Whether `ip` lies inside `network` (families must match). */
export function cidrContains(network: Cidr, ip: Uint8Array): boolean {
  if (ip.length !== network.bytes.length) return false;
  const masked = maskBytes(ip, network.bits);
  for (let i = 0; i < masked.length; i++) if (masked[i] !== network.bytes[i]) return false;
  return true;
}

/** Canonical text of an address: dotted quad, or RFC 5952 IPv6 (longest zero run as `::`). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1, bestLength = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength && j - i > 1) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Canonical `ADDRESS/BITS`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.bytes)}/${cidr.bits}`;
}

/**
 * Splits `HOST:PORT` or `[V6]:PORT`. The host may be a name; the port must be 0–65535.
 *
 * @returns host (without brackets) and port, or null
 */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const port = Number(match[3]);
  if (port > 65535) return null;
  const host = match[1] ?? match[2];
  if (match[1] !== undefined && !parseIp(host)) return null;
  return { host, port };
}

/** `HOST:PORT` with brackets around an IPv6 host. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
