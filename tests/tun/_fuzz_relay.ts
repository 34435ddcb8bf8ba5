// Fuzz helper, run inside wireguard-go's namespace: relays WireGuard datagrams between wireguard-go
// (on loopback) and burrow, keeps real handshake and transport packets as seeds, and on "fuzz N"
// (stdin) sends N random and mutated datagrams to burrow from the relay's own address.
// Usage: deno run --unstable-net -A _fuzz_relay.ts LOCAL_PORT WGGO_PORT BURROW_HOST BURROW_PORT

const [localPort, wgGoPort, burrowHost, burrowPort] = Deno.args;
const inner = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: Number(localPort),
});
const outer = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
const toBurrow = { transport: "udp" as const, hostname: burrowHost, port: Number(burrowPort) };
const toWgGo = { transport: "udp" as const, hostname: "127.0.0.1", port: Number(wgGoPort) };
const seeds = new Map<number, Uint8Array[]>();

function keepSeed(datagram: Uint8Array) {
  const list = seeds.get(datagram[0]) ?? [];
  if (list.length < 32) list.push(datagram.slice());
  seeds.set(datagram[0], list);
}

(async () => {
  for await (const [datagram] of inner) {
    keepSeed(datagram);
    await outer.send(datagram, toBurrow);
  }
})().catch(() => {});
(async () => {
  for await (const [datagram] of outer) await inner.send(datagram, toWgGo);
})().catch(() => {});

const random = (n: number) => Math.floor(Math.random() * n);
function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return bytes;
}

/** One hostile datagram: random, or a real one flipped, cut, stretched, retyped or replayed. */
function mutant(): Uint8Array {
  const all = [...seeds.values()].flat();
  const seed = all.length > 0 ? all[random(all.length)] : randomBytes(148);
  switch (random(10)) {
    case 0:
      return randomBytes(random(200));
    case 1:
      return randomBytes(random(2000));
    case 2: { // bit flips
      const copy = seed.slice();
      for (let i = 0, n = 1 + random(8); i < n; i++) copy[random(copy.length)] ^= 1 << random(8);
      return copy;
    }
    case 3: // truncated
      return seed.slice(0, random(seed.length));
    case 4: { // extended
      const longer = new Uint8Array(seed.length + 1 + random(64));
      longer.set(seed);
      longer.set(randomBytes(longer.length - seed.length), seed.length);
      return longer;
    }
    case 5: { // another message type with the same body
      const copy = seed.slice();
      copy[0] = random(6);
      return copy;
    }
    case 6: // replayed as is (transport packets: replay window; initiations: TAI64N check)
      return seed[0] === 1 && random(20) !== 0 ? randomBytes(148) : seed;
    case 7: { // transport header with a random index or counter
      const copy = (seeds.get(4)?.[0] ?? seed).slice();
      crypto.getRandomValues(copy.subarray(4 + 4 * random(2), 8 + 4 * random(3)));
      return copy;
    }
    case 8: // oversized
      return random(50) === 0 ? randomBytes(3000 + random(60000)) : randomBytes(1500 + random(100));
    default: { // a plausible header of each type with the right length and random body
      const sizes: Record<number, number> = { 1: 148, 2: 92, 3: 64, 4: 32 + 16 * random(10) };
      const type = 1 + random(4);
      const bytes = randomBytes(sizes[type]);
      bytes.set([type, 0, 0, 0]);
      return bytes;
    }
  }
}

const encoder = new TextEncoder();
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  for (const line of chunk.split("\n").filter(Boolean)) {
    const [command, count] = line.split(" ");
    if (command === "seeds") {
      const summary = [...seeds].map(([type, list]) => `${type}:${list.length}`).join(",");
      await Deno.stdout.write(encoder.encode(`seeds ${summary}\n`));
    } else if (command === "fuzz") {
      let sent = 0;
      for (let i = 0; i < Number(count); i++) {
        try {
          await outer.send(mutant(), toBurrow);
          sent++;
        } catch { /* EMSGSIZE and the like: not a datagram */ }
        if (i % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await Deno.stdout.write(encoder.encode(`sent ${sent}\n`));
    }
  }
}
