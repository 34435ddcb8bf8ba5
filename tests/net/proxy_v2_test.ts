// PROXY protocol v2: known bytes from haproxy's proxy-protocol.txt layout, round trips for every
// family and transport, partial input and hostile headers.
import { assert, assertEquals } from "../_support/assert.ts";
import {
  decodeProxyV2,
  encodeProxyV2,
  encodeProxyV2Local,
  PROXY_V2_SIGNATURE,
} from "../../src/net/proxy_v2.ts";

Deno.test("encodeProxyV2() writes the documented TCP4 layout byte for byte", () => {
  const bytes = encodeProxyV2(
    { address: "192.0.2.1", port: 51234 },
    { address: "10.0.0.2", port: 443 },
  );
  assertEquals(
    [...bytes],
    [
      ...PROXY_V2_SIGNATURE,
      0x21, // version 2, PROXY
      0x11, // AF_INET, STREAM
      0x00,
      0x0c, // 12 address bytes
      192,
      0,
      2,
      1,
      10,
      0,
      0,
      2,
      0xc8,
      0x22,
      0x01,
      0xbb,
    ],
  );
});

Deno.test("decodeProxyV2() round-trips TCP4, TCP6 and UDP headers with trailing data", () => {
  const cases = [
    { src: "203.0.113.9", dst: "100.64.0.2", transport: "tcp" as const, length: 28 },
    { src: "2001:db8::7", dst: "fd00::2", transport: "tcp" as const, length: 52 },
    { src: "198.51.100.3", dst: "100.64.0.5", transport: "udp" as const, length: 28 },
    { src: "2001:db8::1:2", dst: "fd00::9", transport: "udp" as const, length: 52 },
  ];
  for (const c of cases) {
    const header = encodeProxyV2(
      { address: c.src, port: 40000 },
      { address: c.dst, port: 8080 },
      c.transport,
    );
    assertEquals(header.length, c.length, `${c.src} length`);
    const withPayload = new Uint8Array(header.length + 5);
    withPayload.set(header);
    withPayload.set([1, 2, 3, 4, 5], header.length);
    const result = decodeProxyV2(withPayload);
    assert(result.kind === "header", `${c.src}: ${JSON.stringify(result)}`);
    assertEquals(result.length, c.length);
    assertEquals(result.header, {
      command: "proxy",
      transport: c.transport,
      source: { address: c.src, port: 40000 },
      destination: { address: c.dst, port: 8080 },
    });
  }
});

Deno.test("encodeProxyV2() sends mixed families as IPv6 with a mapped IPv4", () => {
  const result = decodeProxyV2(
    encodeProxyV2({ address: "192.0.2.1", port: 1 }, { address: "fd00::1", port: 2 }),
  );
  assert(result.kind === "header");
  assertEquals(result.header.source, { address: "::ffff:c000:201", port: 1 });
});

Deno.test("decodeProxyV2() asks for more bytes at every prefix of a header", () => {
  const header = encodeProxyV2({ address: "2001:db8::7", port: 1 }, {
    address: "fd00::2",
    port: 2,
  });
  for (let i = 0; i < header.length; i++) {
    assertEquals(decodeProxyV2(header.subarray(0, i)).kind, "need-more", `prefix ${i}`);
  }
});

Deno.test("decodeProxyV2() reads LOCAL headers and skips TLVs counted in the length", () => {
  const local = decodeProxyV2(encodeProxyV2Local());
  assertEquals(local, {
    kind: "header",
    header: { command: "local", transport: "unspec", source: null, destination: null },
    length: 16,
  });
  const base = encodeProxyV2({ address: "192.0.2.1", port: 5 }, { address: "10.0.0.1", port: 6 });
  const tlv = [0x04, 0x00, 0x03, 0x61, 0x62, 0x63]; // PP2_TYPE_NOOP, 3 bytes
  const withTlv = new Uint8Array(base.length + tlv.length);
  withTlv.set(base);
  withTlv.set(tlv, base.length);
  withTlv[15] = 12 + tlv.length;
  const result = decodeProxyV2(withTlv);
  assert(result.kind === "header");
  assertEquals(result.length, withTlv.length);
  assertEquals(result.header.source, { address: "192.0.2.1", port: 5 });
});

Deno.test("decodeProxyV2() refuses wrong signatures, versions, commands and sizes", () => {
  const good = encodeProxyV2({ address: "192.0.2.1", port: 5 }, { address: "10.0.0.1", port: 6 });
  const mutate = (index: number, value: number) => {
    const copy = good.slice();
    copy[index] = value;
    return copy;
  };
  assertEquals(decodeProxyV2(new TextEncoder().encode("GET / HTTP/1.1\r\n")).kind, "invalid");
  assertEquals(decodeProxyV2(new TextEncoder().encode("PROXY TCP4 ")).kind, "invalid");
  assertEquals(decodeProxyV2(mutate(3, 0)).kind, "invalid");
  assertEquals(decodeProxyV2(mutate(12, 0x11)).kind, "invalid", "version 1 bits");
  assertEquals(decodeProxyV2(mutate(12, 0x25)).kind, "invalid", "command 5");
  assertEquals(decodeProxyV2(mutate(15, 4)).kind, "invalid", "address block too short");
  const huge = good.slice();
  huge[14] = 0xff;
  assertEquals(decodeProxyV2(huge).kind, "invalid", "length beyond the cap");
});

Deno.test("decodeProxyV2() never throws on random input", () => {
  const buffer = new Uint8Array(64);
  for (let i = 0; i < 5000; i++) {
    crypto.getRandomValues(buffer);
    // Keep the signature half the time so the deeper branches are reached.
    if (i % 2 === 0) buffer.set(PROXY_V2_SIGNATURE);
    const result = decodeProxyV2(buffer.subarray(0, i % 64));
    assert(["need-more", "invalid", "header"].includes(result.kind));
  }
});
