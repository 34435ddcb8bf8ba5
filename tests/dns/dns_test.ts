// The DNS proxy: codec round trips and malformed input, alias answers (A, AAAA, PTR,
// wildcards, other types), forwarding in turn with SERVFAIL when every upstream fails, and the
// UDP and TCP server on loopback in front of an upstream that is itself a DnsServer.

import { assert, assertEquals, assertThrows } from "../_support/assert.ts";
import {
  AliasTable,
  buildQuery,
  buildResponse,
  CLASS_IN,
  DnsFormatError,
  DnsResolver,
  DnsServer,
  type Exchange,
  networkExchange,
  parseMessage,
  parseUpstreams,
  RCODE,
  reverseName,
  TYPE,
} from "../../src/dns/mod.ts";
import { isAliasName } from "../../src/protocol/resources.ts";

const rcode = (bytes: Uint8Array) => parseMessage(bytes).flags & 0xf;
const aa = (bytes: Uint8Array) => (parseMessage(bytes).flags & 0x0400) !== 0;
const ips = (bytes: Uint8Array) =>
  parseMessage(bytes).answers.map((r) =>
    r.data.length === 4 ? [...r.data].join(".") : [...r.data].map((b) => b.toString(16)).join(",")
  );

const never: Exchange = () => Promise.reject(new Error("no upstream in this test"));

Deno.test("dns codec: a query round-trips; compression pointers are followed; loops refused", () => {
  const query = parseMessage(buildQuery(0x1234, "Web.Example.", TYPE.A));
  assertEquals(query.id, 0x1234);
  assertEquals(query.questions, [{ name: "web.example", type: TYPE.A, class: CLASS_IN }]);
  const answer = buildResponse(query, {
    rcode: RCODE.NOERROR,
    authoritative: true,
    answers: [{
      name: "web.example",
      type: TYPE.A,
      class: CLASS_IN,
      ttl: 5,
      data: new Uint8Array([10, 0, 0, 9]),
    }],
  });
  const parsed = parseMessage(answer);
  assertEquals(parsed.answers[0].name, "web.example");
  assertEquals(parsed.answers[0].ttl, 5);
  // A record whose name is a pointer back to the question (offset 12).
  const compressed = new Uint8Array([
    ...answer.subarray(0, 12 + 13 + 4),
    0xc0,
    12,
    ...answer.subarray(12 + 13 + 4 + 13),
  ]);
  assertEquals(parseMessage(compressed).answers[0].name, "web.example");
  const loop = new Uint8Array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assertThrows(() => parseMessage(loop), DnsFormatError);
  assertThrows(() => parseMessage(new Uint8Array(5)), DnsFormatError);
  assertThrows(() => buildQuery(1, `${"a".repeat(64)}.example`, TYPE.A), DnsFormatError);
});

Deno.test("dns aliases: names and wildcards; reverse names", () => {
  assert(isAliasName("web.internal"));
  assert(isAliasName("*.lab.internal"));
  assert(!isAliasName("web internal"));
  assert(!isAliasName("-bad.example"));
  assert(!isAliasName(""));
  assertEquals(reverseName(new Uint8Array([10, 0, 0, 9])), "9.0.0.10.in-addr.arpa");
  assert(reverseName(new Uint8Array(16)).endsWith(".0.ip6.arpa"));
  const table = new AliasTable([
    { alias: "Web.Internal", aliasAddress: "10.0.0.9" },
    { alias: "web.internal", aliasAddress: "fd00::9" },
    { alias: "*.lab.internal", aliasAddress: "10.0.0.20" },
    { alias: "bad name", aliasAddress: "10.0.0.1" },
  ]);
  assertEquals(table.size, 2);
  assertEquals(table.lookup("web.internal")?.length, 2);
  assertEquals(table.lookup("x.lab.internal")?.length, 1);
  assertEquals(table.lookup("lab.internal"), null);
  assertEquals(table.reverse("9.0.0.10.in-addr.arpa"), ["web.internal"]);
});

Deno.test("dns resolver: aliases answered authoritatively, by family; PTR; other types empty", async () => {
  const resolver = new DnsResolver({
    aliases: new AliasTable([
      { alias: "web.internal", aliasAddress: "10.0.0.9" },
      { alias: "web.internal", aliasAddress: "fd00::9" },
    ]),
    exchange: never,
  });
  const a = (await resolver.answer(buildQuery(1, "WEB.internal", TYPE.A), "udp"))!;
  assertEquals(rcode(a), RCODE.NOERROR);
  assert(aa(a));
  assertEquals(ips(a), ["10.0.0.9"]);
  const aaaa = (await resolver.answer(buildQuery(2, "web.internal", TYPE.AAAA), "udp"))!;
  assertEquals(parseMessage(aaaa).answers.length, 1);
  assertEquals(parseMessage(aaaa).answers[0].data.length, 16);
  const mx = (await resolver.answer(buildQuery(3, "web.internal", TYPE.MX), "udp"))!;
  assertEquals([rcode(mx), parseMessage(mx).answers.length], [RCODE.NOERROR, 0]);
  const ptr = (await resolver.answer(buildQuery(4, "9.0.0.10.in-addr.arpa", TYPE.PTR), "udp"))!;
  assertEquals(parseMessage(ptr).answers[0].type, TYPE.PTR);
  // Access removed: the alias is no longer answered here (it goes upstream, which fails).
  resolver.setAliases(new AliasTable());
  const gone = (await resolver.answer(buildQuery(5, "web.internal", TYPE.A), "udp"))!;
  assertEquals(rcode(gone), RCODE.SERVFAIL);
});

Deno.test("dns resolver: forwards to each upstream in turn, then SERVFAIL; junk gets FORMERR", async () => {
  const asked: string[] = [];
  const exchange: Exchange = (upstream, query) => {
    asked.push(`${upstream.host}:${upstream.port}`);
    if (upstream.host === "192.0.2.1") return Promise.reject(new Error("timeout"));
    if (upstream.host === "192.0.2.2") {
      // A server failure counts as no answer.
      return Promise.resolve(
        buildResponse(parseMessage(query), { rcode: RCODE.SERVFAIL, authoritative: false }),
      );
    }
    return Promise.resolve(
      buildResponse(parseMessage(query), { rcode: RCODE.NXDOMAIN, authoritative: true }),
    );
  };
  const upstreams = parseUpstreams(["192.0.2.1", "192.0.2.2:5353", "[2001:db8::3]:53"]);
  assert(Array.isArray(upstreams));
  const resolver = new DnsResolver({ upstreams, exchange });
  const answer = (await resolver.answer(buildQuery(7, "other.example", TYPE.A), "udp"))!;
  assertEquals(rcode(answer), RCODE.NXDOMAIN);
  assertEquals(asked, ["192.0.2.1:53", "192.0.2.2:5353", "2001:db8::3:53"]);
  const none = new DnsResolver({ upstreams: upstreams.slice(0, 2), exchange });
  assertEquals(
    rcode((await none.answer(buildQuery(8, "other.example", TYPE.A), "udp"))!),
    RCODE.SERVFAIL,
  );
  assertEquals(parseUpstreams(["dns.example"]), { bad: "dns.example" });
  const junk = new Uint8Array([0xab, 0xcd, 0x01, 0x00, 0, 9, 0, 0, 0, 0, 0, 0, 3]);
  const formerr = (await none.answer(junk, "udp"))!;
  assertEquals([formerr[0], formerr[1], formerr[3] & 0xf], [0xab, 0xcd, RCODE.FORMERR]);
  // A response is never answered (no loops between proxies).
  assertEquals(await none.answer(formerr, "udp"), null);
});

Deno.test("dns server: UDP and TCP on loopback, forwarding to an upstream server", async () => {
  // The upstream: another proxy whose aliases play the role of a zone.
  const upstream = await DnsServer.start({
    address: "127.0.0.1",
    port: 0,
    resolver: new DnsResolver({
      aliases: new AliasTable([{ alias: "outside.example", aliasAddress: "192.0.2.80" }]),
      exchange: never,
    }),
  });
  const proxy = await DnsServer.start({
    address: "127.0.0.1",
    port: 0,
    resolver: new DnsResolver({
      aliases: new AliasTable([{ alias: "web.internal", aliasAddress: "10.0.0.9" }]),
      upstreams: [{ host: "127.0.0.1", port: upstream.port }],
      exchange: networkExchange,
    }),
  });
  try {
    const target = { host: "127.0.0.1", port: proxy.port };
    for (const transport of ["udp", "tcp"] as const) {
      const ask = (id: number, name: string) =>
        networkExchange(target, buildQuery(id, name, TYPE.A), transport, 2000);
      assertEquals(ips(await ask(11, "web.internal")), ["10.0.0.9"], transport);
      assertEquals(ips(await ask(12, "outside.example")), ["192.0.2.80"], transport);
      // The upstream forwards further to nobody and answers SERVFAIL, so the proxy does too.
      assertEquals(rcode(await ask(13, "nowhere.example")), RCODE.SERVFAIL, transport);
    }
  } finally {
    await proxy.close();
    await upstream.close();
  }
});
