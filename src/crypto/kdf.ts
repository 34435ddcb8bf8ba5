// Hashing and key derivation for the handshake and cookies (whitepaper §5.4): HASH (BLAKE2s-256),
// MAC (keyed BLAKE2s-128), HMAC-BLAKE2s and the HKDF-style KDF1/KDF2/KDF3. Used only on the
// handshake and cookie paths, never per transport packet.

import { blake2s } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";

/** Output size of HASH and of each KDF output. */
export const HASH_BYTES = 32;
/** Output size of MAC (mac1, mac2, cookies). */
export const MAC_BYTES = 16;

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** BLAKE2s-256 of the concatenation of `parts`. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const state = blake2s.create();
  for (const part of parts) state.update(part);
  return state.digest();
}

/** Keyed BLAKE2s with a 16-byte output: the `MAC` of the whitepaper. */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: MAC_BYTES });
}

/** HMAC-BLAKE2s of the concatenation of `parts`. */
export function hmacBlake2s(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const state = hmac.create(blake2s, key);
  for (const part of parts) state.update(part);
  return state.digest();
}

/** KDF1(key, input) = τ1 where τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  const prk = hmacBlake2s(key, input);
  const t1 = hmacBlake2s(prk, ONE);
  prk.fill(0);
  return t1;
}

/** KDF2(key, input) = (τ1, τ2) with τ2 = HMAC(τ0, τ1 || 0x2). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const prk = hmacBlake2s(key, input);
  const t1 = hmacBlake2s(prk, ONE);
  const t2 = hmacBlake2s(prk, t1, TWO);
  prk.fill(0);
  return [t1, t2];
}

/** KDF3(key, input) = (τ1, τ2, τ3) with τ3 = HMAC(τ0, τ2 || 0x3). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const prk = hmacBlake2s(key, input);
  const t1 = hmacBlake2s(prk, ONE);
  const t2 = hmacBlake2s(prk, t1, TWO);
  const t3 = hmacBlake2s(prk, t2, THREE);
  prk.fill(0);
  return [t1, t2, t3];
}

/** Constant-time equality of two byte arrays of equal length (false when lengths differ). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Whether every byte is zero (an unset key, or a DH result from a low-order point). */
export function isZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i];
  return acc === 0;
}

const encoder = new TextEncoder();
/** UTF-8 bytes of a label or construction string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
