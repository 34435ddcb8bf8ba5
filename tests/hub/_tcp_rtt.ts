// Measures TCP round trips for the hub benchmark: connects to HOST PORT (an echo service),
// sends COUNT 64-byte messages one after the other and prints p50/p99 in microseconds as JSON.
//
//   deno run -A _tcp_rtt.ts HOST PORT COUNT

const [host, portText, countText] = Deno.args;
const count = Number(countText ?? "500");
const conn = await Deno.connect({ hostname: host, port: Number(portText) });
conn.setNoDelay(true);
const message = new Uint8Array(64).fill(120);
const buffer = new Uint8Array(64);
const samples: number[] = [];
for (let i = 0; i < count + 20; i++) {
  const started = performance.now();
  await conn.write(message);
  let got = 0;
  while (got < 64) {
    const n = await conn.read(buffer.subarray(got));
    if (n === null) throw new Error("echo closed early");
    got += n;
  }
  if (i >= 20) samples.push((performance.now() - started) * 1000); // skip warm-up
}
conn.close();
samples.sort((a, b) => a - b);
const at = (q: number) =>
  Math.round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]);
console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99) }));
