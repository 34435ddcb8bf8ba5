// X25519 from noble's Montgomery ladder alone (src/curve25519/x25519.ts, used by the WireGuard
// core and by sealed endpoint announcements): RFC 7748's known answers, low-order points refused, and the same results as
// "@noble/curves/ed25519.js" (which it replaces to keep the Edwards curve out of memory) on random
// keys.

import { x25519 as edwardsX25519 } from "@noble/curves/ed25519.js";
import { assert, assertEquals } from "../_support/assert.ts";
import { x25519 } from "../../src/curve25519/mod.ts";
import { dh } from "../../src/crypto/noise.ts";
import { publicKeyOf } from "../../src/curve25519/mod.ts";
import { openAnnouncement, sealAnnouncement } from "../../src/protocol/mod.ts";
import { fromHex, toHex } from "./_hex.ts";

Deno.test("x25519: RFC 7748 section 5.2 scalar multiplications", () => {
  const scalar = fromHex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
  const u = fromHex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
  assertEquals(
    toHex(x25519.scalarMult(scalar, u)),
    "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
  );
  const scalar2 = fromHex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
  const u2 = fromHex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
  assertEquals(
    toHex(x25519.scalarMult(scalar2, u2)),
    "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
  );
});

Deno.test("x25519: RFC 7748 section 6.1 key agreement", () => {
  const alice = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const bob = fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  assertEquals(
    toHex(publicKeyOf(alice)),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  assertEquals(
    toHex(publicKeyOf(bob)),
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  );
  const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  assertEquals(toHex(dh(alice, publicKeyOf(bob))!), shared);
  assertEquals(toHex(dh(bob, publicKeyOf(alice))!), shared);
});

Deno.test("x25519: a low-order public key gives no secret", () => {
  const key = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  assertEquals(dh(key, new Uint8Array(32)), null);
  const order8 = fromHex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
  assertEquals(dh(key, order8), null);
});

Deno.test("x25519: same keys and secrets as noble's Edwards-backed x25519", () => {
  for (let i = 0; i < 32; i++) {
    const a = crypto.getRandomValues(new Uint8Array(32));
    const b = crypto.getRandomValues(new Uint8Array(32));
    assertEquals(toHex(publicKeyOf(a)), toHex(edwardsX25519.getPublicKey(a)));
    const theirs = edwardsX25519.getPublicKey(b);
    assertEquals(toHex(dh(a, theirs)!), toHex(edwardsX25519.getSharedSecret(a, theirs)));
  }
});

Deno.test("x25519: an endpoint announcement sealed for a hub opens with the hub's key only", () => {
  const agent = crypto.getRandomValues(new Uint8Array(32));
  const hub = crypto.getRandomValues(new Uint8Array(32));
  const payload = { timestampMs: 1_700_000_000_000, local: ["192.0.2.7:51820"] };
  const datagram = sealAnnouncement(agent, edwardsX25519.getPublicKey(hub), payload);
  const opened = openAnnouncement(datagram, hub);
  assert(opened !== null);
  assertEquals(toHex(opened.publicKey), toHex(edwardsX25519.getPublicKey(agent)));
  assertEquals(opened.local, payload.local);
  assertEquals(openAnnouncement(datagram, crypto.getRandomValues(new Uint8Array(32))), null);
});
