// The pure @noble transport AEAD on a real device: `burrow wg` started with BURROW_AEAD=noble (as
// where libsodium and node:crypto's cipher are missing) handshakes with wireguard-go and carries
// pings both ways. The engine Worker test checks that the variable does select @noble.

import { netnsTest } from "../_support/netns.ts";
import { createPair, pingUntilAnswered } from "./_wg_pair.ts";

Deno.test(
  netnsTest("burrow on the pure @noble AEAD pings wireguard-go both ways", async () => {
    Deno.env.set("BURROW_AEAD", "noble"); // inherited by the burrow process createPair starts
    let pair;
    try {
      pair = await createPair("burrow", "wireguard-go", { net: 63 });
    } finally {
      Deno.env.delete("BURROW_AEAD");
    }
    try {
      await pingUntilAnswered(pair.a, pair.b.inner4);
      await pingUntilAnswered(pair.b, pair.a.inner4);
      await pair.a.ns.exec(["ping", "-c", "20", "-i", "0.01", "-s", "1300", pair.b.inner4]);
    } finally {
      await pair.destroy();
    }
  }),
);
