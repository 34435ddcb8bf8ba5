// Curve25519 key pairs for the device: what `wg genkey` / `wg pubkey` do, for the agent and hub.

import { x25519 } from "./x25519.ts";

/** A fresh, clamped X25519 private key (32 bytes), like `wg genkey`. */
export function generatePrivateKey(): Uint8Array {
  const key = new Uint8Array(32);
  crypto.getRandomValues(key);
  return clampPrivateKey(key);
}

/** Clamps a private key in place as RFC 7748 and `wg genkey` do; returns it. */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
}

/**
 * The public key of `privateKey`, like `wg pubkey`.
 *
 * @throws {TypeError} when the key is not 32 bytes
 */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== 32) {
    throw new TypeError(
      `Cannot derive a public key: expected 32 bytes, received ${privateKey.length}`,
    );
  }
  return x25519.getPublicKey(privateKey);
}

/** Lower-case hex of a key, as the UAPI writes it. */
export function keyToHex(key: Uint8Array): string {
  let out = "";
  for (let i = 0; i < key.length; i++) out += key[i].toString(16).padStart(2, "0");
  return out;
}

/** 32 bytes from 64 hex digits, or null. */
export function keyFromHex(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Standard base64 of a key, as `wg` prints it. */
export function keyToBase64(key: Uint8Array): string {
  let binary = "";
  for (const byte of key) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** 32 bytes from base64 (`wg` form), or null. */
export function keyFromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) return null;
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
