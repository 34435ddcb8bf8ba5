// UAPI text protocol: every set key, the errno answers for bad lines, and the get serializer.

import { assert, assertEquals } from "../_support/assert.ts";
import { formatUapiGet, parseEndpoint, parseUapiSet, UAPI_ERRNO } from "../../src/tun/uapi.ts";
import { keyToHex } from "../../src/curve25519/mod.ts";

const KEY_A = new Uint8Array(32).fill(0xaa);
const KEY_B = new Uint8Array(32).fill(0x0b);
const HEX_A = keyToHex(KEY_A);
const HEX_B = keyToHex(KEY_B);

function ok(body: string) {
  const result = parseUapiSet(body);
  if (!result.ok) throw new Error(`expected success, got ${result.errno}: ${result.message}`);
  return result.set;
}

function errnoOf(body: string): number {
  const result = parseUapiSet(body);
  return result.ok ? 0 : result.errno;
}

Deno.test("parseUapiSet() reads every device key", () => {
  const set = ok(`private_key=${HEX_A}\nlisten_port=51820\nfwmark=4660\nreplace_peers=true\n`);
  assertEquals(set.privateKey, KEY_A);
  assertEquals(set.listenPort, 51820);
  assertEquals(set.fwmark, 4660);
  assertEquals(set.replacePeers, true);
  assertEquals(set.peers, []);
});

Deno.test("parseUapiSet() reads every peer key in order", () => {
  const set = ok(
    [
      `public_key=${HEX_A}`,
      "update_only=true",
      `preshared_key=${HEX_B}`,
      "endpoint=[fd00::1]:51820",
      "persistent_keepalive_interval=25",
      "allowed_ip=10.0.0.9/8",
      "replace_allowed_ips=true",
      "allowed_ip=10.1.2.3/32",
      "allowed_ip=fd00:0:0::/64",
      "protocol_version=1",
      `public_key=${HEX_B}`,
      "remove=true",
      "",
    ].join("\n"),
  );
  assertEquals(set.peers.length, 2);
  const [first, second] = set.peers;
  assertEquals(first.publicKey, KEY_A);
  assertEquals(first.updateOnly, true);
  assertEquals(first.presharedKey, KEY_B);
  assertEquals(first.endpoint, { address: "fd00::1", port: 51820 });
  assertEquals(first.persistentKeepaliveS, 25);
  // replace_allowed_ips after an allowed_ip drops the earlier one, as in-order application would.
  assertEquals(first.replaceAllowedIps, true);
  assertEquals(first.allowedIps, ["10.1.2.3/32", "fd00::/64"]);
  assertEquals(second.remove, true);
});

Deno.test("parseUapiSet() masks host bits of allowed IPs", () => {
  assertEquals(ok(`public_key=${HEX_A}\nallowed_ip=10.0.0.9/8\n`).peers[0].allowedIps, [
    "10.0.0.0/8",
  ]);
});

Deno.test("parseUapiSet() stops at the blank line", () => {
  const set = ok(`listen_port=1\n\nlisten_port=bogus\n`);
  assertEquals(set.listenPort, 1);
});

Deno.test("parseUapiSet() answers EPROTO for a line without '='", () => {
  assertEquals(errnoOf("noequals\n"), UAPI_ERRNO.protocol);
  assertEquals(UAPI_ERRNO.protocol, -71);
});

Deno.test("parseUapiSet() answers EINVAL for bad values and unknown keys", () => {
  const cases = [
    "foo=bar",
    "private_key=abc",
    `private_key=${HEX_A}00`,
    "listen_port=65536",
    "listen_port=-1",
    "listen_port=",
    "fwmark=4294967296",
    "fwmark=x",
    "replace_peers=false",
    "public_key=zz",
    `public_key=${HEX_A}\nupdate_only=yes`,
    `public_key=${HEX_A}\nremove=1`,
    `public_key=${HEX_A}\npreshared_key=12`,
    `public_key=${HEX_A}\nendpoint=1.2.3.4`,
    `public_key=${HEX_A}\nendpoint=1.2.3.4:70000`,
    `public_key=${HEX_A}\nendpoint=fd00::1:80`,
    `public_key=${HEX_A}\nendpoint=host.example:80`,
    `public_key=${HEX_A}\npersistent_keepalive_interval=65536`,
    `public_key=${HEX_A}\nreplace_allowed_ips=false`,
    `public_key=${HEX_A}\nallowed_ip=10.0.0.1`,
    `public_key=${HEX_A}\nallowed_ip=10.0.0.0/33`,
    `public_key=${HEX_A}\nallowed_ip=fd00::/129`,
    `public_key=${HEX_A}\nprotocol_version=2`,
    `public_key=${HEX_A}\nlisten_port=1`,
    `public_key=${HEX_A}\nprivate_key=${HEX_B}`,
  ];
  for (const body of cases) {
    assertEquals(errnoOf(body + "\n"), UAPI_ERRNO.invalid, JSON.stringify(body));
  }
  assertEquals(UAPI_ERRNO.invalid, -22);
});

Deno.test("parseUapiSet() rejects a whole set when a late line is bad", () => {
  const result = parseUapiSet(`listen_port=5\npublic_key=${HEX_A}\nallowed_ip=nope\n`);
  assert(!result.ok);
});

Deno.test("parseEndpoint() takes IP literals with ports only", () => {
  assertEquals(parseEndpoint("192.0.2.1:51820"), { address: "192.0.2.1", port: 51820 });
  assertEquals(parseEndpoint("[::1]:1"), { address: "::1", port: 1 });
  assertEquals(parseEndpoint("[192.0.2.1]:1"), null);
  assertEquals(parseEndpoint("::1:1"), null);
});

Deno.test("formatUapiGet() writes device and peer keys in wireguard-go's order", () => {
  const text = formatUapiGet({
    privateKey: KEY_A,
    listenPort: 51820,
    fwmark: 0,
    peers: [{
      publicKey: KEY_B,
      presharedKey: new Uint8Array(32),
      endpoint: { address: "fd00::2", port: 7 },
      lastHandshakeMs: 1_700_000_000_123,
      txBytes: 10,
      rxBytes: 20,
      persistentKeepaliveS: 25,
      allowedIps: ["10.0.0.0/8", "fd00::/64"],
    }],
  });
  assertEquals(
    text,
    [
      `private_key=${HEX_A}`,
      "listen_port=51820",
      `public_key=${HEX_B}`,
      `preshared_key=${"0".repeat(64)}`,
      "protocol_version=1",
      "endpoint=[fd00::2]:7",
      "last_handshake_time_sec=1700000000",
      "last_handshake_time_nsec=123000000",
      "tx_bytes=10",
      "rx_bytes=20",
      "persistent_keepalive_interval=25",
      "allowed_ip=10.0.0.0/8",
      "allowed_ip=fd00::/64",
      "",
    ].join("\n"),
  );
});

Deno.test("formatUapiGet() leaves out an absent key, port 0, fwmark 0 and endpoint", () => {
  const text = formatUapiGet({
    privateKey: null,
    listenPort: 0,
    fwmark: 0,
    peers: [{
      publicKey: KEY_B,
      presharedKey: new Uint8Array(32),
      endpoint: null,
      lastHandshakeMs: 0,
      txBytes: 0,
      rxBytes: 0,
      persistentKeepaliveS: 0,
      allowedIps: [],
    }],
  });
  assert(!text.includes("private_key") && !text.includes("listen_port"));
  assert(!text.includes("endpoint") && !text.includes("fwmark"));
  assert(text.includes("last_handshake_time_sec=0\n"));
});
