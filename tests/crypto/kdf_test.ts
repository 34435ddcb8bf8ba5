import { assertEquals } from "../_support/assert.ts";
import { hash, hmacBlake2s, kdf1, kdf2, kdf3, mac } from "../../src/crypto/kdf.ts";
import { fromHex, toHex } from "./_hex.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("hash() gives the RFC 7693 Appendix B BLAKE2s-256 digest of 'abc'", () => {
  assertEquals(
    toHex(hash(text("abc"))),
    "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
  );
});

Deno.test("hash() of the empty input and of split inputs matches BLAKE2s-256", () => {
  assertEquals(
    toHex(hash(new Uint8Array(0))),
    "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9",
  );
  assertEquals(toHex(hash(text("a"), text("bc"))), toHex(hash(text("abc"))));
});

Deno.test("mac() is keyed BLAKE2s-128 (truncated output re-derives the parameter block)", () => {
  // A 16-byte digest is not the prefix of the 32-byte one: the output length is hashed in.
  const key = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const tag = mac(key, text("abc"));
  assertEquals(tag.length, 16);
  assertEquals(toHex(tag) === toHex(hash(text("abc")).subarray(0, 16)), false);
});

Deno.test("keyed BLAKE2s-256 matches the BLAKE2 reference known answers", async () => {
  const { blake2s } = await import("@noble/hashes/blake2.js");
  const key = fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  assertEquals(
    toHex(blake2s(new Uint8Array(0), { key })),
    "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49",
  );
  assertEquals(
    toHex(blake2s(Uint8Array.of(0), { key })),
    "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1",
  );
});

// wireguard-go device/kdf_test.go
const KDF_VECTORS = [
  {
    key: "746573742d6b6579",
    input: "746573742d696e707574",
    t0: "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
    t1: "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
    t2: "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24",
  },
  {
    key: "776972656775617264",
    input: "776972656775617264",
    t0: "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
    t1: "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
    t2: "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160",
  },
  {
    key: "",
    input: "",
    t0: "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
    t1: "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
    t2: "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e",
  },
];

Deno.test("kdf1/kdf2/kdf3 match wireguard-go's KDF vectors", () => {
  for (const v of KDF_VECTORS) {
    const key = fromHex(v.key);
    const input = fromHex(v.input);
    assertEquals(kdf3(key, input).map(toHex), [v.t0, v.t1, v.t2]);
    assertEquals(kdf2(key, input).map(toHex), [v.t0, v.t1]);
    assertEquals(toHex(kdf1(key, input)), v.t0);
  }
});

Deno.test("hmacBlake2s() over split parts equals HMAC over the concatenation", () => {
  const key = text("key");
  assertEquals(
    toHex(hmacBlake2s(key, text("ab"), text("c"))),
    toHex(hmacBlake2s(key, text("abc"))),
  );
});
