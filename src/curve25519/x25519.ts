// X25519 (RFC 7748) from @noble/curves' Montgomery ladder alone. "@noble/curves/ed25519.js"
// exports the same function but loads the Edwards curve, FROST, OPRF and hash-to-curve modules
// with it: about 2.5 MiB more resident in every isolate that imports it (the main thread and the
// engine Worker; docs/data-plane.md, "Memory"), for a faster fixed-base multiplication only.
// That costs a public key or an ephemeral key pair about 0.25 ms more, once per handshake.

import { montgomery } from "@noble/curves/abstract/montgomery.js";
import { mod, pow2 } from "@noble/curves/abstract/modular.js";

const P = 2n ** 255n - 19n;

/** x^(p-2) mod p, the field inverse, with the usual 254-squaring addition chain. */
function invert(x: bigint): bigint {
  const x2 = mod(x * x, P); // 2
  const x9 = mod(pow2(x2, 2n, P) * x, P); // 9
  const x11 = mod(x9 * x2, P); // 11
  const b5 = mod(mod(x11 * x11, P) * x9, P); // 2^5 - 1
  const b10 = mod(pow2(b5, 5n, P) * b5, P);
  const b20 = mod(pow2(b10, 10n, P) * b10, P);
  const b40 = mod(pow2(b20, 20n, P) * b20, P);
  const b50 = mod(pow2(b40, 10n, P) * b10, P);
  const b100 = mod(pow2(b50, 50n, P) * b50, P);
  const b200 = mod(pow2(b100, 100n, P) * b100, P);
  const b250 = mod(pow2(b200, 50n, P) * b50, P);
  return mod(pow2(b250, 5n, P) * x11, P); // 2^255 - 32 + 11 = p - 2
}

/** RFC 7748 section 5: clear the three low bits, clear bit 255, set bit 254. */
function clamp(bytes: Uint8Array): Uint8Array {
  bytes[0] &= 248;
  bytes[31] &= 127;
  bytes[31] |= 64;
  return bytes;
}

export const x25519 = montgomery({
  P,
  type: "x25519",
  powPminus2: invert,
  adjustScalarBytes: clamp,
});
