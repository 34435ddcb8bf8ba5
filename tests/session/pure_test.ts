// Tests for the session's pure parts: backoff, probe codec, frame decoding, peer table, state.
import { assert, assertEquals, assertRejects } from "../_support/assert.ts";
import { backoffDelayMs } from "../../src/session/backoff.ts";
import { decodeProbe, encodeProbe } from "../../src/session/peer_probe.ts";
import { decodeFrame, siteSchema } from "../../src/session/hub_messages.ts";
import { allowedIpsOf, NEVER_SEEN, PeerTable, relayEndpointOf } from "../../src/session/peers.ts";
import { StateStore } from "../../src/session/state.ts";

Deno.test("backoffDelayMs() doubles from 1 s to a 30 s cap with jitter in the upper half", () => {
  const low = (n: number) => backoffDelayMs(n, () => 0);
  const high = (n: number) => backoffDelayMs(n, () => 0.999999);
  assertEquals([0, 1, 2, 3, 4, 5, 6].map(low), [500, 1000, 2000, 4000, 8000, 15000, 15000]);
  assertEquals([0, 1, 5, 50].map(high), [1000, 2000, 30000, 30000]);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(3);
    assert(d >= 4000 && d <= 8000, `${d}`);
  }
});

Deno.test("encodeProbe()/decodeProbe() round-trip 13 bytes and refuse anything else", () => {
  const bytes = encodeProbe(1, 0x0102030405060708n);
  assertEquals(Array.from(bytes), [0xde, 0xad, 0xbe, 0xef, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
  assertEquals(decodeProbe(bytes), { type: 1, timestampNs: 0x0102030405060708n });
  assertEquals(decodeProbe(bytes.subarray(1)), null);
  const bad = bytes.slice();
  bad[0] = 0;
  assertEquals(decodeProbe(bad), null);
  bad.set(bytes);
  bad[4] = 3;
  assertEquals(decodeProbe(bad), null);
});

Deno.test("decodeFrame() reads JSON text and gzip-compressed binary, refuses junk", async () => {
  assertEquals(await decodeFrame('{"type":"pong","data":{}}'), { type: "pong", data: {} });
  const gz = await new Response(
    new Blob(['{"type":"olm/sync","data":{"sites":[]}}']).stream().pipeThrough(
      new CompressionStream("gzip"),
    ),
  ).arrayBuffer();
  assertEquals(await decodeFrame(gz), { type: "olm/sync", data: { sites: [] } });
  assertEquals(await decodeFrame("nope"), null);
  assertEquals(await decodeFrame('{"data":1}'), null);
  assertEquals(await decodeFrame(new Uint8Array([1, 2, 3]).buffer), null);
});

const site = siteSchema.parse({
  siteId: 10,
  name: "A",
  endpoint: "hub:21820",
  relayEndpoint: "hub:21820",
  publicKey: "k",
  serverIP: "100.89.128.1",
  serverPort: 21820,
  remoteSubnets: ["10.0.0.0/24", "bogus"],
  aliases: [{ alias: "x", aliasAddress: "100.96.128.9" }],
});

Deno.test("allowedIpsOf() is the server address, remote subnets and aliases; junk dropped", () => {
  assertEquals(allowedIpsOf(site), ["100.89.128.1/32", "10.0.0.0/24", "100.96.128.9/32"]);
  assertEquals(relayEndpointOf("relay.example", 21820), "relay.example:21820");
  assertEquals(relayEndpointOf("1.2.3.4:5", undefined), "1.2.3.4:5");
  assertEquals(relayEndpointOf("1.2.3.4:5", 6), "1.2.3.4:6");
});

Deno.test("PeerTable reports live health: never seen, answered, then timed out", () => {
  const table = new PeerTable();
  table.upsert(site);
  let peer = table.toStatus(1000, 5000)["10"];
  assertEquals(peer, {
    siteId: 10,
    name: "A",
    connected: false,
    rtt: 0,
    lastSeen: NEVER_SEEN,
    endpoint: "hub:21820",
    isRelay: true,
    peerAddress: "100.89.128.1",
    holepunchConnected: false,
  });
  assertEquals(table.recordReply("100.89.128.1", 21821, 1234.4, 2000), 10);
  assertEquals(table.recordReply("100.89.128.1", 21820, 1, 2000), undefined, "wrong port");
  peer = table.toStatus(3000, 5000)["10"];
  assertEquals([peer.connected, peer.rtt, peer.lastSeen], [
    true,
    1234,
    new Date(2000).toISOString(),
  ]);
  peer = table.toStatus(8000, 5000)["10"];
  assertEquals([peer.connected, peer.rtt], [false, 0]);
  assertEquals(table.update({ siteId: 10, name: "B" })?.name, "B");
  assertEquals(table.update({ siteId: 99, name: "B" }), undefined);
});

Deno.test("StateStore keeps one identity and the last connection, in 0600 files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new StateStore(`${dir}/state`);
    const key = await store.identity();
    assertEquals(await new StateStore(`${dir}/state`).identity(), key, "restored at restart");
    assertEquals(await store.connection(), undefined);
    const params = {
      endpoint: "http://h",
      id: "i",
      secret: "sec",
      mtu: 1280,
      interfaceName: "olm",
      holepunch: false,
      pingIntervalMs: 3000,
      pingTimeoutMs: 5000,
    };
    await store.saveConnection(params, true);
    assertEquals(await store.connection(), { active: true, params });
    await store.markInactive();
    assertEquals((await store.connection())?.active, false);
    for (const name of ["identity.json", "connection.json"]) {
      assertEquals((await Deno.stat(`${dir}/state/${name}`)).mode! & 0o777, 0o600, name);
    }
    assertEquals((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o700);
    await Deno.writeTextFile(`${dir}/state/identity.json`, "{}");
    await assertRejects(() => store.identity(), Error, "damaged");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
