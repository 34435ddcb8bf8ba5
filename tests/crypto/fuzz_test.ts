import { assert } from "../_support/assert.ts";
import { deliver, ENDPOINT_A, ENDPOINT_B, ipv4, makePair, seededRandom, take } from "./_pair.ts";

Deno.test("garbage, truncated and bit-flipped datagrams yield error steps and never throw", () => {
  const pair = makePair();
  const out = new Uint8Array(2048);
  // Real messages to mutate: an initiation, a response, a cookie reply, transport data.
  const init = take(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 0), out);
  pair.b.wg.setUnderLoad(true);
  const cookie = take(pair.b.wg.decapsulate(init, ENDPOINT_A, out, 0), out);
  pair.b.wg.setUnderLoad(false);
  const response = take(pair.b.wg.decapsulate(init, ENDPOINT_A, out, 0), out);
  deliver(response, pair.b, pair.a, 0);
  const transport = take(pair.a.wg.encapsulate(ipv4("10.0.0.1", "10.0.0.2"), out, 1), out);
  // Delivered once, so every copy below is a replay.
  pair.b.wg.decapsulate(transport, ENDPOINT_A, out, 1);
  const samples = [init, response, cookie, transport];
  const random = seededRandom(99);
  const byte = new Uint8Array(4);
  const next = (n: number) => {
    random(byte);
    return ((byte[0] | (byte[1] << 8) | (byte[2] << 16)) >>> 0) % n;
  };
  for (let i = 0; i < 10_000; i++) {
    let datagram: Uint8Array;
    const kind = next(4);
    if (kind === 0) {
      datagram = new Uint8Array(next(200));
      random(datagram);
    } else if (kind === 1) {
      const sample = samples[next(samples.length)];
      datagram = sample.slice(0, next(sample.length + 1)); // truncated
    } else {
      datagram = samples[next(samples.length)].slice();
      for (let k = 0; k <= next(3); k++) datagram[next(datagram.length)] ^= 1 << next(8);
      if (kind === 3) datagram[0] = 1 + next(4); // keep a plausible type
      datagram[1] = datagram[2] = datagram[3] = 0;
    }
    const target = next(2) === 0 ? pair.a : pair.b;
    const step = target.wg.decapsulate(
      datagram,
      next(2) === 0 ? ENDPOINT_A : ENDPOINT_B,
      out,
      2 + i,
    );
    assert(
      step.action === "error" || step.action === "done" || step.action === "toNetwork",
      `unexpected ${step.action} for ${datagram.length} bytes`,
    );
    if (step.action === "toNetwork") assert(step.length <= out.length);
    // Random "IP packets" on the TUN side never throw either.
    const packet = new Uint8Array(next(100));
    random(packet);
    target.wg.encapsulate(packet, out, 2 + i);
  }
});
