// Endpoint discovery (docs/private-resources.md, "Direct paths"): a small datagram an agent
// sends from its WireGuard UDP socket to the hub's relay port, so the hub learns the agent's
// public address and port (the datagram's source: its NAT mapping) and its local addresses.
//
// Only the owner of a WireGuard key can announce for it: the payload is sealed with
// ChaCha20-Poly1305 under a key derived from X25519(agent's private key, hub's public key),
// which only the agent and the hub can compute; the agent's public key and the magic are the
// additional data. A timestamp, newer than the last one accepted, keeps replays out.
//
//   magic "BURROW-EP1" (10) | agent public key (32) | nonce (12) | sealed JSON {t, local} + tag (16)
//
// The magic's first byte is no WireGuard message type, so a device hands it to its
// foreign-datagram handler.

import { blake2s } from "@noble/hashes/blake2.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "../curve25519/mod.ts";

const MAGIC = new TextEncoder().encode("BURROW-EP1");
const LABEL = new TextEncoder().encode("burrow endpoint announce v1");
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const HEADER_BYTES = MAGIC.length + KEY_BYTES + NONCE_BYTES;
/** Fits the device's foreign-datagram bound. */
export const MAX_ANNOUNCE_BYTES = 1280;
const MAX_LOCAL_ADDRESSES = 16;

export interface AnnouncePayload {
  /** Wall-clock milliseconds when sent. */
  timestampMs: number;
  /** The agent's own `ip:port` addresses (its LAN addresses with its listen port). */
  local: string[];
}

export interface Announcement extends AnnouncePayload {
  publicKey: Uint8Array;
}

/** Whether `datagram` starts like an announcement (cheap; `openAnnouncement` checks the rest). */
export function looksLikeAnnouncement(datagram: Uint8Array): boolean {
  if (datagram.length < HEADER_BYTES + 16) return false;
  for (let i = 0; i < MAGIC.length; i++) if (datagram[i] !== MAGIC[i]) return false;
  return true;
}

function sealingKey(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(privateKey, publicKey);
  } catch {
    return null; // a low-order point
  }
  if (shared.every((b) => b === 0)) return null;
  const input = new Uint8Array(LABEL.length + shared.length);
  input.set(LABEL);
  input.set(shared, LABEL.length);
  return blake2s(input);
}

/**
 * The announcement datagram of the agent owning `agentPrivateKey`, for the hub `hubPublicKey`.
 *
 * @throws {RangeError} when the payload does not fit MAX_ANNOUNCE_BYTES
 */
export function sealAnnouncement(
  agentPrivateKey: Uint8Array,
  hubPublicKey: Uint8Array,
  payload: AnnouncePayload,
): Uint8Array {
  const key = sealingKey(agentPrivateKey, hubPublicKey);
  if (!key) throw new RangeError("Cannot seal an announcement for this hub key");
  const publicKey = x25519.getPublicKey(agentPrivateKey);
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const header = new Uint8Array(HEADER_BYTES);
  header.set(MAGIC);
  header.set(publicKey, MAGIC.length);
  header.set(nonce, MAGIC.length + KEY_BYTES);
  const plain = new TextEncoder().encode(
    JSON.stringify({ t: payload.timestampMs, local: payload.local.slice(0, MAX_LOCAL_ADDRESSES) }),
  );
  const sealed = chacha20poly1305(key, nonce, header.subarray(0, MAGIC.length + KEY_BYTES))
    .encrypt(plain);
  const out = new Uint8Array(HEADER_BYTES + sealed.length);
  out.set(header);
  out.set(sealed, HEADER_BYTES);
  if (out.length > MAX_ANNOUNCE_BYTES) throw new RangeError("announcement too long");
  return out;
}

/**
 * Opens an announcement with the hub's private key.
 *
 * @returns the announcing key and payload, or null when it is not one, was not sealed by the
 *   owner of the key it names, or its payload is malformed
 */
export function openAnnouncement(
  datagram: Uint8Array,
  hubPrivateKey: Uint8Array,
): Announcement | null {
  if (!looksLikeAnnouncement(datagram) || datagram.length > MAX_ANNOUNCE_BYTES) return null;
  const publicKey = datagram.slice(MAGIC.length, MAGIC.length + KEY_BYTES);
  const nonce = datagram.subarray(MAGIC.length + KEY_BYTES, HEADER_BYTES);
  const key = sealingKey(hubPrivateKey, publicKey);
  if (!key) return null;
  let plain: Uint8Array;
  try {
    plain = chacha20poly1305(key, nonce, datagram.subarray(0, MAGIC.length + KEY_BYTES))
      .decrypt(datagram.subarray(HEADER_BYTES));
  } catch {
    return null;
  }
  try {
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
    if (typeof value?.t !== "number" || !Number.isFinite(value.t)) return null;
    const local = Array.isArray(value.local)
      ? value.local.filter((a: unknown): a is string => typeof a === "string" && a.length <= 64)
        .slice(0, MAX_LOCAL_ADDRESSES)
      : [];
    return { publicKey, timestampMs: value.t, local };
  } catch {
    return null;
  }
}
