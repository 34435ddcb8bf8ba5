// Transport AEAD through libsodium (Debian libsodium23) and Deno.dlopen: ChaCha20-Poly1305 IETF
// (RFC 8439) with a detached tag, sealed and opened in place on the caller's memory (the ring
// slot, the engine's output buffer). No allocation per packet: the nonce is one buffer reused,
// the tag is written straight behind the ciphertext. About five times node:crypto here on a
// 1420-byte packet, because node:crypto builds a cipher object per packet.
//
// Each thread that seals opens its own handle (loadSodiumTransportAead); null when the library is
// missing, so the device falls back (aead_choice.ts).

import * as core from "../crypto/mod.ts";
import { sizeArg } from "./libc.ts";

/** The shared object Debian's libsodium23 installs. */
export const LIBSODIUM = "libsodium.so.23";

const SYMBOLS = {
  sodium_init: { parameters: [], result: "i32" },
  // int (c, mac, maclen_p, m, mlen, ad, adlen, nsec, npub, k)
  crypto_aead_chacha20poly1305_ietf_encrypt_detached: {
    parameters: [
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "usize",
      "buffer",
      "usize",
      "pointer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  // int (m, nsec, c, clen, mac, ad, adlen, npub, k): -1 when the tag does not verify
  crypto_aead_chacha20poly1305_ietf_decrypt_detached: {
    parameters: [
      "buffer",
      "pointer",
      "buffer",
      "usize",
      "buffer",
      "buffer",
      "usize",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
} as const;

type Sodium = Deno.DynamicLibrary<typeof SYMBOLS>;
type Buffer = ArrayBufferView<ArrayBufferLike> | null;

/** The two calls; lengths as bigints, as every size_t argument (libc.ts, sizeArg). */
interface AeadCalls {
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: Buffer,
    mac: Buffer,
    macLength: null,
    m: Buffer,
    mLength: bigint,
    ad: Buffer,
    adLength: bigint,
    nsec: null,
    npub: Buffer,
    k: Buffer,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: Buffer,
    nsec: null,
    c: Buffer,
    cLength: bigint,
    mac: Buffer,
    ad: Buffer,
    adLength: bigint,
    npub: Buffer,
    k: Buffer,
  ): number;
}

/** The raw seal/open pair over one libsodium handle (explicit nonce, optional AD). */
export interface SodiumAead {
  seal: core.RawSeal;
  open: core.RawOpen;
  /** Closes the library handle; the functions must not be called afterwards. */
  close(): void;
}

/**
 * Opens libsodium and initialises it.
 *
 * @returns the raw pair, or null when the library cannot be loaded (not installed)
 */
export function loadSodium(path = LIBSODIUM): SodiumAead | null {
  let library: Sodium;
  try {
    library = Deno.dlopen(path, SYMBOLS);
  } catch {
    return null;
  }
  if (library.symbols.sodium_init() < 0) {
    library.close();
    return null;
  }
  const calls = library.symbols as unknown as AeadCalls;
  const encrypt = calls.crypto_aead_chacha20poly1305_ietf_encrypt_detached;
  const decrypt = calls.crypto_aead_chacha20poly1305_ietf_decrypt_detached;
  const seal: core.RawSeal = (key, nonce, aad, plaintext, out) => {
    const length = core.sealedLength(plaintext, out);
    const body = plaintext.length;
    encrypt(
      out,
      out.subarray(body, length),
      null,
      plaintext,
      sizeArg(body),
      aad,
      aad ? sizeArg(aad.length) : 0n,
      null,
      nonce,
      key,
    );
    return length;
  };
  const open: core.RawOpen = (key, nonce, aad, ciphertext, out) => {
    const length = core.openedLength(ciphertext, out);
    if (length < 0) return -1;
    const result = decrypt(
      out,
      null,
      ciphertext,
      sizeArg(length),
      ciphertext.subarray(length, length + core.TAG_BYTES),
      aad,
      aad ? sizeArg(aad.length) : 0n,
      nonce,
      key,
    );
    return result === 0 ? length : -1;
  };
  return { seal, open, close: () => library.close() };
}

/**
 * A TransportAead over libsodium, or null when the library is missing.
 *
 * @example Hand it to the engine, falling back to node:crypto
 * ```ts
 * const aead = loadSodiumTransportAead() ?? createNobleTransportAead();
 * ```
 */
export function loadSodiumTransportAead(path = LIBSODIUM): core.TransportAead | null {
  const sodium = loadSodium(path);
  return sodium ? core.transportAeadOf(sodium.seal, sodium.open) : null;
}
