// Transport hot path: encapsulate/decapsulate of 1420-byte packets through two in-process
// interfaces, with the noble (pure TypeScript), the node:crypto and the libsodium (FFI) AEAD.
import { createNativeTransportAead } from "../../src/crypto/aead_native.ts";
import { loadSodiumTransportAead } from "../../src/tun/aead_sodium.ts";
import type { TransportAead } from "../../src/crypto/aead.ts";
import { deliver, ENDPOINT_A, ipv4, makePair, take } from "./_pair.ts";

function setup(aead: TransportAead | undefined) {
  const pair = makePair({ aead });
  const out = new Uint8Array(2048);
  const init = take(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0), out);
  deliver(init, pair.a, pair.b, 0);
  const packet = ipv4("10.0.0.1", "10.0.0.2", 1420 - 20);
  const datagram = take(pair.a.wg.encapsulate(packet, out, 1), out);
  return { pair, packet, datagram, out, back: new Uint8Array(2048) };
}

for (
  const [name, make] of [
    ["noble", () => undefined],
    ["native", createNativeTransportAead],
    ["libsodium", () => loadSodiumTransportAead() ?? undefined],
  ] as const
) {
  const s = setup(make());
  Deno.bench({
    name: `encapsulate 1420 B (${name})`,
    group: "encapsulate",
    baseline: name === "noble",
    fn() {
      s.pair.a.wg.encapsulate(s.packet, s.out, 2);
    },
  });
  // Decapsulating needs a fresh counter each time: seal just before, and count both.
  Deno.bench({
    name: `encapsulate+decapsulate 1420 B (${name})`,
    group: "roundtrip",
    baseline: name === "noble",
    fn() {
      const step = s.pair.a.wg.encapsulate(s.packet, s.out, 2);
      const length = step.length;
      s.pair.b.wg.decapsulate(s.out.subarray(0, length), ENDPOINT_A, s.back, 2);
    },
  });
}
