// The engine's transport AEAD is chosen at start: libsodium, else node:crypto, else @noble, and
// BURROW_AEAD starts the choice lower (how the pure path is forced where native code exists).

import { assert, assertEquals } from "../_support/assert.ts";
import { AEAD_ENV, chooseTransportAead } from "../../src/tun/aead_choice.ts";
import { loadSodium, loadSodiumTransportAead } from "../../src/tun/aead_sodium.ts";
import { createNobleTransportAead } from "../../src/crypto/mod.ts";

async function withEnv<T>(value: string | undefined, run: () => Promise<T>): Promise<T> {
  const before = Deno.env.get(AEAD_ENV);
  if (value === undefined) Deno.env.delete(AEAD_ENV);
  else Deno.env.set(AEAD_ENV, value);
  try {
    return await run();
  } finally {
    if (before === undefined) Deno.env.delete(AEAD_ENV);
    else Deno.env.set(AEAD_ENV, before);
  }
}

/** Whether `aead` seals like @noble and opens what @noble sealed. */
function agreesWithNoble(aead: ReturnType<typeof createNobleTransportAead>): boolean {
  const noble = createNobleTransportAead();
  const key = crypto.getRandomValues(new Uint8Array(32));
  const packet = crypto.getRandomValues(new Uint8Array(1420));
  const mine = new Uint8Array(1436), theirs = new Uint8Array(1436), back = new Uint8Array(1436);
  aead.seal(key, 7, packet, mine);
  noble.seal(key, 7, packet, theirs);
  return mine.every((byte, i) => byte === theirs[i]) &&
    aead.open(key, 7, theirs, back) === 1420 &&
    back.subarray(0, 1420).every((b, i) => b === packet[i]);
}

Deno.test("libsodium is chosen first when installed, and seals like @noble", async () => {
  const choice = await withEnv(undefined, () => chooseTransportAead());
  assertEquals(choice.name, "libsodium");
  assertEquals(choice.error, undefined);
  assert(agreesWithNoble(choice.aead));
});

Deno.test("BURROW_AEAD forces node:crypto or the pure @noble path", async () => {
  for (const name of ["node:crypto", "noble"] as const) {
    const choice = await withEnv(name, () => chooseTransportAead());
    assertEquals(choice.name, name);
    assert(agreesWithNoble(choice.aead));
  }
});

Deno.test("an unknown BURROW_AEAD is reported and the default order used", async () => {
  const choice = await withEnv("rot13", () => chooseTransportAead());
  assertEquals(choice.name, "libsodium");
  assert(choice.error?.includes("BURROW_AEAD must be one of libsodium, node:crypto, noble"));
});

Deno.test("a missing libsodium loads as null, so the chain falls through", () => {
  assertEquals(loadSodium("libsodium-missing.so.0"), null);
  assertEquals(loadSodiumTransportAead("libsodium-missing.so.0"), null);
});
