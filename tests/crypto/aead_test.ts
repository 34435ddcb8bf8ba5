import { assert, assertEquals } from "../_support/assert.ts";
import {
  createNobleTransportAead,
  nobleOpen,
  nobleSeal,
  openCookie,
  sealCookie,
  type TransportAead,
  writeCounterNonce,
} from "../../src/crypto/aead.ts";
import { createNativeTransportAead, nativeOpen, nativeSeal } from "../../src/crypto/aead_native.ts";
import { loadSodium } from "../../src/tun/aead_sodium.ts";
import { transportAeadOf } from "../../src/crypto/aead.ts";
import { fromHex, toHex } from "./_hex.ts";

// make test installs libsodium23 (tools/apt-ensure.sh); without it these tests fail rather than
// pass on two implementations out of three.
const sodium = loadSodium();
if (!sodium) throw new Error("libsodium.so.23 is missing: install Debian's libsodium23");

const text = (s: string) => new TextEncoder().encode(s);

const SUNSCREEN = text(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, " +
    "sunscreen would be it.",
);

// RFC 8439 §2.8.2
const RFC8439_2_8_2 = {
  key: fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
  nonce: fromHex("070000004041424344454647"),
  aad: fromHex("50515253c0c1c2c3c4c5c6c7"),
  plaintext: SUNSCREEN,
  ciphertext: fromHex(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b" +
      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7" +
      "bc3ff4def08e4b7a9de576d26586cec64b6116" + "1ae10b594f09e26a7e902ecbd0600691",
  ),
};

// RFC 8439 Appendix A.5 (decryption)
const RFC8439_A5 = {
  key: fromHex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"),
  nonce: fromHex("000000000102030405060708"),
  aad: fromHex("f33388860000000000004e91"),
  plaintext: text(
    "Internet-Drafts are draft documents valid for a maximum of six months and may be updated, " +
      "replaced, or obsoleted by other documents at any time. It is inappropriate to use " +
      "Internet-Drafts as reference material or to cite them other than as /\u201cwork in " +
      "progress./\u201d",
  ),
  ciphertext: fromHex(
    "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0" +
      "bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855" +
      "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e9" +
      "9040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a" +
      "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130" +
      "305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b" + "eead9d67890cbb22392336fea1851f38",
  ),
};

const IMPLEMENTATIONS = [
  { name: "noble", seal: nobleSeal, open: nobleOpen, transport: createNobleTransportAead },
  { name: "native", seal: nativeSeal, open: nativeOpen, transport: createNativeTransportAead },
  {
    name: "libsodium",
    seal: sodium.seal,
    open: sodium.open,
    transport: () => transportAeadOf(sodium.seal, sodium.open),
  },
];

for (const impl of IMPLEMENTATIONS) {
  Deno.test(`${impl.name} ChaCha20-Poly1305 seals the RFC 8439 §2.8.2 vector`, () => {
    const v = RFC8439_2_8_2;
    const out = new Uint8Array(v.plaintext.length + 16);
    assertEquals(impl.seal(v.key, v.nonce, v.aad, v.plaintext, out), out.length);
    assertEquals(toHex(out), toHex(v.ciphertext));
    const back = new Uint8Array(v.plaintext.length);
    assertEquals(impl.open(v.key, v.nonce, v.aad, v.ciphertext, back), back.length);
    assertEquals(toHex(back), toHex(v.plaintext));
  });

  Deno.test(`${impl.name} ChaCha20-Poly1305 opens the RFC 8439 A.5 vector`, () => {
    const v = RFC8439_A5;
    const out = new Uint8Array(v.ciphertext.length - 16);
    assertEquals(impl.open(v.key, v.nonce, v.aad, v.ciphertext, out), out.length);
    assertEquals(new TextDecoder().decode(out), new TextDecoder().decode(v.plaintext));
    const sealed = new Uint8Array(v.ciphertext.length);
    impl.seal(v.key, v.nonce, v.aad, v.plaintext, sealed);
    assertEquals(toHex(sealed), toHex(v.ciphertext));
  });

  Deno.test(`${impl.name} ChaCha20-Poly1305 refuses a flipped bit anywhere`, () => {
    const v = RFC8439_A5;
    const out = new Uint8Array(v.ciphertext.length);
    for (const position of [0, 100, v.ciphertext.length - 1]) {
      const bad = v.ciphertext.slice();
      bad[position] ^= 1;
      assertEquals(impl.open(v.key, v.nonce, v.aad, bad, out), -1);
    }
    assertEquals(impl.open(v.key, v.nonce, v.aad, new Uint8Array(15), out), -1);
  });

  Deno.test(`${impl.name} transport AEAD seals in place and opens what the other sealed`, () => {
    const mine: TransportAead = impl.transport();
    const other: TransportAead = impl.name === "noble"
      ? createNativeTransportAead()
      : createNobleTransportAead();
    const key = fromHex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
    for (const counter of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) {
      const buffer = new Uint8Array(1436);
      buffer.set(SUNSCREEN);
      const written = mine.seal(key, counter, buffer.subarray(0, SUNSCREEN.length), buffer);
      assertEquals(written, SUNSCREEN.length + 16);
      // Same bytes as the raw AEAD with the WireGuard nonce layout.
      const nonce = new Uint8Array(12);
      writeCounterNonce(nonce, counter);
      const expected = new Uint8Array(written);
      nobleSeal(key, nonce, null, SUNSCREEN, expected);
      assertEquals(toHex(buffer.subarray(0, written)), toHex(expected));
      const opened = new Uint8Array(written);
      assertEquals(other.open(key, counter, buffer.subarray(0, written), opened), SUNSCREEN.length);
      assertEquals(toHex(opened.subarray(0, SUNSCREEN.length)), toHex(SUNSCREEN));
      assertEquals(other.open(key, counter + 1, buffer.subarray(0, written), opened), -1);
    }
  });
}

Deno.test("the three ChaCha20-Poly1305 implementations agree on random packets and open each other's", () => {
  const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
  for (let round = 0; round < 200; round++) {
    const length = round < 3 ? round : Math.floor(Math.random() * 1500);
    const key = random(32), nonce = random(12), plaintext = random(length);
    const aad = round % 2 === 0 ? null : random(round % 48);
    const sealed = IMPLEMENTATIONS.map((impl) => {
      // Sealed in place: the plaintext is the head of the output buffer.
      const out = new Uint8Array(length + 16);
      out.set(plaintext);
      assertEquals(impl.seal(key, nonce, aad, out.subarray(0, length), out), length + 16);
      return out;
    });
    for (const other of sealed.slice(1)) assertEquals(toHex(other), toHex(sealed[0]));
    for (const impl of IMPLEMENTATIONS) {
      const back = new Uint8Array(length);
      assertEquals(impl.open(key, nonce, aad, sealed[round % sealed.length], back), length);
      assertEquals(toHex(back), toHex(plaintext));
      const bad = sealed[0].slice();
      bad[Math.floor(Math.random() * bad.length)] ^= 1 << (round % 8);
      assertEquals(impl.open(key, nonce, aad, bad, back), -1, `${impl.name} refuses a flipped bit`);
    }
  }
});

Deno.test("writeCounterNonce() puts four zero bytes then the little-endian 64-bit counter", () => {
  const nonce = new Uint8Array(12).fill(0xff);
  writeCounterNonce(nonce, 0x0102030405 * 256 + 6);
  assertEquals(toHex(nonce), "000000000605040302010000");
});

// draft-irtf-cfrg-xchacha-03 §A.3.1
Deno.test("XChaCha20-Poly1305 matches draft-irtf-cfrg-xchacha A.3.1", () => {
  const key = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = fromHex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const aad = fromHex("50515253c0c1c2c3c4c5c6c7");
  const expected = "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb" +
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452" +
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
    "21f9664c97637da9768812f615c68b13b52e" + "c0875924c1c7987947deafd8780acf49";
  const out = new Uint8Array(SUNSCREEN.length + 16);
  sealCookie(key, nonce, SUNSCREEN, aad, out);
  assertEquals(toHex(out), expected);
  const back = new Uint8Array(SUNSCREEN.length);
  assert(openCookie(key, nonce, out, aad, back));
  assertEquals(toHex(back), toHex(SUNSCREEN));
  out[3] ^= 0x80;
  assertEquals(openCookie(key, nonce, out, aad, back), false);
});
