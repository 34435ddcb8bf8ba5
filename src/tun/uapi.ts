// The cross-platform configuration protocol (wg(8) <-> userspace device), pure: text in, a
// validated change set out, and a device snapshot back to text. The socket server is uapi_server.ts.

import { formatCidr, joinHostPort, parseCidr, parseHostPort, parseIp } from "../net/mod.ts";
import { keyFromHex, keyToHex } from "../curve25519/mod.ts";
import type { UdpEndpoint } from "./udp.ts";

/** errno values answered as `errno=N`, negative as wireguard-go writes them. */
export const UAPI_ERRNO = {
  ok: 0,
  io: -5,
  invalid: -22,
  protocol: -71,
  portInUse: -98,
  unknown: -55,
} as const;

/** What one `public_key=` section asks of a peer, in order. */
export interface UapiPeerChange {
  publicKey: Uint8Array;
  /** Remove the peer (the rest of the section is ignored). */
  remove: boolean;
  /** Change the peer only if it exists; never create it. */
  updateOnly: boolean;
  presharedKey?: Uint8Array;
  endpoint?: UdpEndpoint;
  persistentKeepaliveS?: number;
  /** Drop the peer's allowed IPs before adding `allowedIps`. */
  replaceAllowedIps: boolean;
  /** Canonical CIDRs to add. */
  allowedIps: string[];
}

/** A validated `set=1` transaction: applied whole or not at all. */
export interface UapiSet {
  /** All zeros clears the key. */
  privateKey?: Uint8Array;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: UapiPeerChange[];
}

export type UapiParseResult =
  | { ok: true; set: UapiSet }
  | { ok: false; errno: number; message: string };

/** A peer as `get=1` reports it. */
export interface UapiPeerSnapshot {
  publicKey: Uint8Array;
  presharedKey: Uint8Array;
  endpoint: UdpEndpoint | null;
  /** Wall-clock epoch milliseconds, 0 when never. */
  lastHandshakeMs: number;
  txBytes: number;
  rxBytes: number;
  persistentKeepaliveS: number;
  allowedIps: string[];
}

/** The device as `get=1` reports it. */
export interface UapiSnapshot {
  privateKey: Uint8Array | null;
  listenPort: number;
  fwmark: number;
  peers: UapiPeerSnapshot[];
}

function parseUint(text: string, max: number): number | null {
  if (!/^\d{1,10}$/.test(text)) return null;
  const value = Number(text);
  return value <= max ? value : null;
}

/** An endpoint literal as wireguard-go's ParseEndpoint takes it: `IPv4:port` or `[IPv6]:port`. */
export function parseEndpoint(text: string): UdpEndpoint | null {
  const split = parseHostPort(text);
  if (!split || !parseIp(split.host)) return null;
  // IPv6 needs brackets; a bare "::1:80" is ambiguous and refused.
  if (split.host.includes(":") !== text.startsWith("[")) return null;
  return { address: split.host, port: split.port };
}

/** An allowed IP as netip.ParsePrefix takes it: an address with an explicit prefix length. */
function parseAllowedIp(text: string): string | null {
  if (!text.includes("/")) return null;
  const cidr = parseCidr(text);
  return cidr ? formatCidr(cidr) : null;
}

/**
 * Parses the body of a `set=1` operation (the lines after `set=1`, up to the blank line).
 * Every line is checked before anything is applied, so a bad line rejects the whole set.
 *
 * @returns the change set, or the errno wireguard-go answers for the first bad line
 */
export function parseUapiSet(body: string): UapiParseResult {
  const set: UapiSet = { replacePeers: false, peers: [] };
  let peer: UapiPeerChange | null = null;
  const fail = (errno: number, message: string): UapiParseResult => ({ ok: false, errno, message });
  const lines = body.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const line of lines) {
    if (line === "") break;
    const eq = line.indexOf("=");
    if (eq < 0) return fail(UAPI_ERRNO.protocol, `line without "=": ${JSON.stringify(line)}`);
    const key = line.slice(0, eq), value = line.slice(eq + 1);
    if (key === "public_key") {
      const publicKey = keyFromHex(value);
      if (!publicKey) return fail(UAPI_ERRNO.invalid, "public_key is not 64 hex digits");
      peer = {
        publicKey,
        remove: false,
        updateOnly: false,
        replaceAllowedIps: false,
        allowedIps: [],
      };
      set.peers.push(peer);
      continue;
    }
    if (!peer) {
      switch (key) {
        case "private_key": {
          const privateKey = keyFromHex(value);
          if (!privateKey) return fail(UAPI_ERRNO.invalid, "private_key is not 64 hex digits");
          set.privateKey = privateKey;
          break;
        }
        case "listen_port": {
          const port = parseUint(value, 65535);
          if (port === null) return fail(UAPI_ERRNO.invalid, `bad listen_port ${value}`);
          set.listenPort = port;
          break;
        }
        case "fwmark": {
          const mark = parseUint(value, 0xffffffff);
          if (mark === null) return fail(UAPI_ERRNO.invalid, `bad fwmark ${value}`);
          set.fwmark = mark;
          break;
        }
        case "replace_peers":
          if (value !== "true") return fail(UAPI_ERRNO.invalid, `bad replace_peers ${value}`);
          set.replacePeers = true;
          break;
        default:
          return fail(UAPI_ERRNO.invalid, `unknown device key ${key}`);
      }
      continue;
    }
    switch (key) {
      case "update_only":
        if (value !== "true") return fail(UAPI_ERRNO.invalid, `bad update_only ${value}`);
        peer.updateOnly = true;
        break;
      case "remove":
        if (value !== "true") return fail(UAPI_ERRNO.invalid, `bad remove ${value}`);
        peer.remove = true;
        break;
      case "preshared_key": {
        const presharedKey = keyFromHex(value);
        if (!presharedKey) return fail(UAPI_ERRNO.invalid, "preshared_key is not 64 hex digits");
        peer.presharedKey = presharedKey;
        break;
      }
      case "endpoint": {
        const endpoint = parseEndpoint(value);
        if (!endpoint) return fail(UAPI_ERRNO.invalid, `bad endpoint ${value}`);
        peer.endpoint = endpoint;
        break;
      }
      case "persistent_keepalive_interval": {
        const seconds = parseUint(value, 65535);
        if (seconds === null) {
          return fail(UAPI_ERRNO.invalid, `bad persistent_keepalive_interval ${value}`);
        }
        peer.persistentKeepaliveS = seconds;
        break;
      }
      case "replace_allowed_ips":
        if (value !== "true") return fail(UAPI_ERRNO.invalid, `bad replace_allowed_ips ${value}`);
        // Replacing after some allowed_ip lines drops those too, as applying in order would.
        peer.replaceAllowedIps = true;
        peer.allowedIps = [];
        break;
      case "allowed_ip": {
        const cidr = parseAllowedIp(value);
        if (!cidr) return fail(UAPI_ERRNO.invalid, `bad allowed_ip ${value}`);
        peer.allowedIps.push(cidr);
        break;
      }
      case "protocol_version":
        if (value !== "1") return fail(UAPI_ERRNO.invalid, `bad protocol_version ${value}`);
        break;
      default:
        return fail(UAPI_ERRNO.invalid, `unknown peer key ${key}`);
    }
  }
  return { ok: true, set };
}

/** Text of an endpoint as UAPI and `wg` show it. */
export function formatEndpoint(endpoint: UdpEndpoint): string {
  return joinHostPort(endpoint.address, endpoint.port);
}

/**
 * The body of a `get=1` answer (without the closing `errno=0`), in wireguard-go's order.
 */
export function formatUapiGet(snapshot: UapiSnapshot): string {
  const lines: string[] = [];
  if (snapshot.privateKey && snapshot.privateKey.some((b) => b !== 0)) {
    lines.push(`private_key=${keyToHex(snapshot.privateKey)}`);
  }
  if (snapshot.listenPort !== 0) lines.push(`listen_port=${snapshot.listenPort}`);
  if (snapshot.fwmark !== 0) lines.push(`fwmark=${snapshot.fwmark}`);
  for (const peer of snapshot.peers) {
    lines.push(`public_key=${keyToHex(peer.publicKey)}`);
    lines.push(`preshared_key=${keyToHex(peer.presharedKey)}`);
    lines.push("protocol_version=1");
    if (peer.endpoint) lines.push(`endpoint=${formatEndpoint(peer.endpoint)}`);
    const ms = Math.max(0, Math.floor(peer.lastHandshakeMs));
    lines.push(`last_handshake_time_sec=${Math.floor(ms / 1000)}`);
    lines.push(`last_handshake_time_nsec=${(ms % 1000) * 1_000_000}`);
    lines.push(`tx_bytes=${peer.txBytes}`);
    lines.push(`rx_bytes=${peer.rxBytes}`);
    lines.push(`persistent_keepalive_interval=${peer.persistentKeepaliveS}`);
    for (const cidr of peer.allowedIps) lines.push(`allowed_ip=${cidr}`);
  }
  return lines.map((line) => line + "\n").join("");
}

/** One `errno=N` trailer. */
export function formatErrno(errno: number): string {
  return `errno=${errno}\n\n`;
}
