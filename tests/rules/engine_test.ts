// The traffic engine on loopback: relayed connections (PROXY v2 first, as the hub sends them)
// reach proxied, upstreamURL and webRoot sites, redirects, firewalls and TCP forwards; changes
// to one rule leave another rule's open connection alone; a hub refusal rolls a change back.

import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_support/assert.ts";
import { freePort } from "../_support/ports.ts";
import { RuleError } from "../../src/protocol/mod.ts";
import { BufferedReader } from "../../src/rules/http_body.ts";
import { echoUpstream, readAll, relayedConnect, relayedRequest, startEngine } from "./_fixtures.ts";

Deno.test("a proxied site gets Host, rewriteHost and X-Forwarded-* from the PROXY header", async () => {
  const upstream = echoUpstream();
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [
        { domain: "plain.example.com", destination: "127.0.0.1", port: upstream.port },
        {
          domain: "rewrite.example.com",
          destination: "127.0.0.1",
          port: upstream.port,
          rewriteHost: "inside.example.net",
        },
        { domain: "url.example.com", upstreamURL: `http://127.0.0.1:${upstream.port}/base` },
      ],
    });
    const plain = await relayedRequest(
      fixture.http,
      "203.0.113.7",
      "GET /a?b=1 HTTP/1.1\r\nHost: plain.example.com\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n",
    );
    assertEquals(plain.status, 200, plain.raw);
    const seen = JSON.parse(plain.body);
    assertEquals(seen.path, "/a?b=1");
    assertEquals(seen.headers.host, "plain.example.com");
    assertEquals(seen.headers["x-forwarded-for"], "203.0.113.7");
    assertEquals(seen.headers["x-forwarded-proto"], "http");
    assertEquals(seen.headers["x-forwarded-host"], "plain.example.com");

    const rewritten = await relayedRequest(
      fixture.http,
      "203.0.113.7",
      "GET / HTTP/1.1\r\nHost: rewrite.example.com\r\nConnection: close\r\n\r\n",
    );
    const rewrittenSeen = JSON.parse(rewritten.body);
    assertEquals(rewrittenSeen.headers.host, "inside.example.net");
    assertEquals(rewrittenSeen.headers["x-forwarded-host"], "rewrite.example.com");

    const old = await relayedRequest(
      fixture.http,
      "203.0.113.7",
      "GET /stream HTTP/1.0\r\nHost: plain.example.com\r\n\r\n",
    );
    assertEquals(old.status, 200, old.raw);
    assertEquals(old.headers["transfer-encoding"], undefined, "no chunks for HTTP/1.0");
    assertEquals(old.body, "first,second,third");
    const streamed = await relayedRequest(
      fixture.http,
      "203.0.113.7",
      "GET /stream HTTP/1.1\r\nHost: plain.example.com\r\nConnection: close\r\n\r\n",
    );
    assertEquals(streamed.headers["transfer-encoding"], "chunked");
    assertStringIncludes(streamed.body, "first,");
    assertStringIncludes(streamed.body, "third");

    const viaUrl = await relayedRequest(
      fixture.http,
      "2001:db8::5",
      "POST /x HTTP/1.1\r\nHost: url.example.com\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    const urlSeen = JSON.parse(viaUrl.body);
    assertEquals(urlSeen.path, "/base/x");
    assertEquals(urlSeen.body, "hello");
    assertEquals(urlSeen.headers["x-forwarded-for"], "2001:db8::5");
  } finally {
    await fixture.close();
    await upstream.server.shutdown();
  }
});

Deno.test("keep-alive requests and chunked bodies stream through one connection", async () => {
  const upstream = echoUpstream();
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [
        { domain: "ka.example.com", destination: "127.0.0.1", port: upstream.port },
        { domain: "other.example.com", destination: "127.0.0.1", port: upstream.port },
      ],
    });
    const conn = await relayedConnect(
      fixture.http,
      "198.51.100.1",
      "POST /one HTTP/1.1\r\nHost: ka.example.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" +
        "GET /two HTTP/1.1\r\nHost: ka.example.com\r\nConnection: close\r\n\r\n",
    );
    const raw = new TextDecoder().decode(await readAll(conn));
    conn.close();
    const bodies = raw.split("\r\n\r\n").filter((part) => part.startsWith("{"));
    assertEquals(bodies.length, 2, raw);
    assertEquals(JSON.parse(bodies[0].split("HTTP/1.1")[0]).body, "abcde");
    assertStringIncludes(bodies[1], '"/two"');

    // The forwarding lines are kept between requests: a Host change must not reuse them.
    const hosts = await relayedConnect(
      fixture.http,
      "198.51.100.2",
      "GET /a HTTP/1.1\r\nHost: ka.example.com\r\n\r\n" +
        "GET /b HTTP/1.1\r\nHost: other.example.com\r\n\r\n" +
        "GET /c HTTP/1.1\r\nHost: ka.example.com\r\nConnection: close\r\n\r\n",
    );
    const hostsRaw = new TextDecoder().decode(await readAll(hosts));
    hosts.close();
    const seen = hostsRaw.split("\r\n\r\n").filter((part) => part.startsWith("{"))
      .map((part) => JSON.parse(part.split("HTTP/1.1")[0]));
    assertEquals(seen.map((s) => s.path), ["/a", "/b", "/c"], hostsRaw);
    assertEquals(
      seen.map((s) => [s.headers["x-forwarded-host"], s.headers["x-forwarded-for"]]),
      [
        ["ka.example.com", "198.51.100.2"],
        ["other.example.com", "198.51.100.2"],
        ["ka.example.com", "198.51.100.2"],
      ],
    );
    assertStringIncludes(seen[1].headers.forwarded, "host=other.example.com");
  } finally {
    await fixture.close();
    await upstream.server.shutdown();
  }
});

Deno.test("redirect sends HTTP to HTTPS and the firewall drops by client address", async () => {
  const upstream = echoUpstream();
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [
        {
          domain: "secure.example.com",
          secure: true,
          redirect: true,
          destination: "127.0.0.1",
          port: upstream.port,
        },
        {
          domain: "fw.example.com",
          destination: "127.0.0.1",
          port: upstream.port,
          firewall: [{ sequence: 1, action: "allow", network: "71.1.2.3/32" }],
        },
      ],
    });
    const redirected = await relayedRequest(
      fixture.http,
      "192.0.2.1",
      "GET /path?q=1 HTTP/1.1\r\nHost: secure.example.com\r\n\r\n",
    );
    assertEquals(redirected.status, 301);
    assertEquals(redirected.headers.location, "https://secure.example.com/path?q=1");

    const allowed = await relayedRequest(
      fixture.http,
      "71.1.2.3",
      "GET / HTTP/1.1\r\nHost: fw.example.com\r\nConnection: close\r\n\r\n",
    );
    assertEquals(allowed.status, 200);
    const dropped = await relayedRequest(
      fixture.http,
      "71.1.2.4",
      "GET / HTTP/1.1\r\nHost: fw.example.com\r\nConnection: close\r\n\r\n",
    );
    assertEquals(dropped.status, 403);
    const unknown = await relayedRequest(
      fixture.http,
      "71.1.2.3",
      "GET / HTTP/1.1\r\nHost: nobody.example.com\r\n\r\n",
    );
    assertEquals(unknown.status, 404);
  } finally {
    await fixture.close();
    await upstream.server.shutdown();
  }
});

Deno.test("a webRoot site serves files, index, ranges and types, and refuses escapes", async () => {
  const root = await Deno.makeTempDir({ prefix: "brl-web-" });
  const outside = await Deno.makeTempDir({ prefix: "brl-out-" });
  const fixture = await startEngine();
  try {
    await Deno.writeTextFile(`${root}/index.html`, "<h1>home</h1>");
    await Deno.mkdir(`${root}/docs`);
    await Deno.writeTextFile(`${root}/docs/index.htm`, "docs");
    await Deno.writeTextFile(`${root}/data.json`, '{"a":1}');
    await Deno.writeTextFile(`${root}/digits.txt`, "0123456789");
    await Deno.writeTextFile(`${outside}/secret.txt`, "SECRET");
    await Deno.symlink(`${outside}/secret.txt`, `${root}/link.txt`);
    await Deno.symlink(outside, `${root}/linkdir`);
    await fixture.engine.create({ https: [{ domain: "files.example.com", webRoot: root }] });
    const get = (path: string, extra = "") =>
      relayedRequest(
        fixture.http,
        "192.0.2.9",
        `GET ${path} HTTP/1.1\r\nHost: files.example.com\r\n${extra}Connection: close\r\n\r\n`,
      );
    const home = await get("/");
    assertEquals([home.status, home.body], [200, "<h1>home</h1>"]);
    assertStringIncludes(home.headers["content-type"], "text/html");
    assertEquals((await get("/docs/")).body, "docs");
    const docs = await get("/docs");
    assertEquals([docs.status, docs.headers.location], [301, "/docs/"]);
    assertEquals((await get("/data.json")).headers["content-type"], "application/json");
    const range = await get("/digits.txt", "Range: bytes=2-4\r\n");
    assertEquals([range.status, range.body, range.headers["content-range"]], [
      206,
      "234",
      "bytes 2-4/10",
    ]);
    assertEquals((await get("/digits.txt", "Range: bytes=-3\r\n")).body, "789");
    assertEquals((await get("/digits.txt", "Range: bytes=20-\r\n")).status, 416);
    for (
      const escape of [
        "/../" + outside.split("/").pop() + "/secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/docs/..%2f..%2fetc/passwd",
        "/link.txt",
        "/linkdir/secret.txt",
        "/%00",
      ]
    ) {
      const answer = await get(escape);
      assert(answer.status === 403 || answer.status === 404, `${escape}: ${answer.status}`);
      assert(!answer.body.includes("SECRET") && !answer.body.includes("root:"), escape);
    }
    assertEquals((await get("/missing")).status, 404);
    // A file larger than one chunk, whole and as a range across chunk borders.
    const big = new Uint8Array(200_000).map((_, i) => i % 251);
    await Deno.writeFile(`${root}/big.bin`, big);
    const whole = await relayedConnect(
      fixture.http,
      "192.0.2.9",
      "GET /big.bin HTTP/1.1\r\nHost: files.example.com\r\nConnection: close\r\n\r\n",
    );
    const raw = await readAll(whole);
    whole.close();
    const bodyAt = raw.findIndex((_, i) =>
      raw[i] === 13 && raw[i + 1] === 10 && raw[i + 2] === 13 && raw[i + 3] === 10
    ) + 4;
    assertEquals(raw.subarray(bodyAt), big);
    const ranged = await relayedConnect(
      fixture.http,
      "192.0.2.9",
      "GET /big.bin HTTP/1.1\r\nHost: files.example.com\r\nRange: bytes=60000-140000\r\n" +
        "Connection: close\r\n\r\n",
    );
    const rangedRaw = await readAll(ranged);
    ranged.close();
    const rangedAt = rangedRaw.findIndex((_, i) =>
      rangedRaw[i] === 13 && rangedRaw[i + 1] === 10 && rangedRaw[i + 2] === 13 &&
      rangedRaw[i + 3] === 10
    ) + 4;
    assertEquals(rangedRaw.subarray(rangedAt), big.subarray(60000, 140001));
  } finally {
    await fixture.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("WebSocket upgrades pass through to the upstream", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (event) => socket.send(`echo:${event.data}`);
    return response;
  });
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [{ domain: "ws.example.com", destination: "127.0.0.1", port: server.addr.port }],
    });
    // The handshake by hand over the relayed stream, then one masked frame each way.
    const conn = await relayedConnect(
      fixture.http,
      "192.0.2.44",
      "GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    assertStringIncludes(head, "101 Switching Protocols");
    // A masked text frame "hi".
    const mask = [1, 2, 3, 4];
    const payload = [..."hi"].map((c, i) => c.charCodeAt(0) ^ mask[i % 4]);
    await conn.write(new Uint8Array([0x81, 0x80 | 2, ...mask, ...payload]));
    const m = await conn.read(buffer);
    const frame = buffer.subarray(0, m ?? 0);
    assertEquals(frame[0], 0x81);
    assertEquals(new TextDecoder().decode(frame.subarray(2, 2 + frame[1])), "echo:hi");
    conn.close();
  } finally {
    await fixture.close();
    await server.shutdown();
  }
});

Deno.test("a TCP forward relays an allocated port with its own firewall", async () => {
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echoLoop = (async () => {
    for await (const conn of echo) {
      conn.readable.pipeTo(conn.writable).catch(() => {});
    }
  })();
  const allocated = freePort();
  const fixture = await startEngine({ pool: [allocated] });
  try {
    assertEquals(await fixture.engine.allocate(), allocated);
    await fixture.engine.create({
      ports: [{
        port: allocated,
        destination: "127.0.0.1",
        dstPort: (echo.addr as Deno.NetAddr).port,
        firewall: [{ sequence: 1, action: "drop", network: "10.9.0.0/16" }],
      }],
    });
    const conn = await relayedConnect(allocated, "192.0.2.10", "ping");
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    assertEquals(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "ping");

    // Changing another rule keeps this connection open.
    await fixture.engine.create({ https: [{ domain: "other.example.com", webRoot: "/tmp" }] });
    await fixture.engine.remove({ https: [{ domain: "other.example.com" }] });
    await conn.write(new TextEncoder().encode("again"));
    const m = await conn.read(buffer);
    assertEquals(new TextDecoder().decode(buffer.subarray(0, m ?? 0)), "again");
    conn.close();

    const blocked = await relayedConnect(allocated, "10.9.3.4", "ping");
    assertEquals((await readAll(blocked)).length, 0);
    blocked.close();
  } finally {
    await fixture.close();
    echo.close();
    await echoLoop.catch(() => {});
  }
});

Deno.test("a hub refusal rolls the change back and the hub sees every accepted change", async () => {
  const fixture = await startEngine();
  try {
    await fixture.engine.create({ https: [{ domain: "kept.example.com", webRoot: "/tmp" }] });
    assertEquals(fixture.hub.syncs.length, 1);
    fixture.hub.refuseSync = "domain taken.example.com is claimed by another client";
    const error = await assertRejects(
      () => fixture.engine.create({ https: [{ domain: "taken.example.com", webRoot: "/tmp" }] }),
      RuleError,
    );
    assertEquals(error.kind, "conflict");
    assertEquals(fixture.engine.rules().https.map((r) => r.domain), ["kept.example.com"]);
    const stored = JSON.parse(await Deno.readTextFile(`${fixture.stateDir}/rules.json`));
    assertEquals(stored.https.length, 1);
    fixture.hub.refuseSync = null;
    fixture.hub.unreachable = true;
    await fixture.engine.create({ https: [{ domain: "later.example.com", webRoot: "/tmp" }] });
    assertEquals(fixture.engine.rules().https.length, 2, "kept while the hub is away");
  } finally {
    await fixture.close();
  }
});

Deno.test("hop-by-hop headers, and those a Connection header lists, stop at the proxy both ways", async () => {
  // A raw upstream, to see the forwarded head byte for byte and to answer with headers that
  // must not reach the client (a Content-Length beside Transfer-Encoding among them).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let seenHead = "";
  const served = (async () => {
    const conn = await listener.accept();
    seenHead = `${await new BufferedReader(conn).readHead()}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(
      "HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: secret\r\nKeep-Alive: timeout=5\r\n" +
        "Content-Length: 99\r\nTransfer-Encoding: chunked\r\nX-Kept: yes\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ));
    conn.close();
  })();
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [{ domain: "hop.example.com", destination: "127.0.0.1", port: listener.addr.port }],
    });
    const answer = await relayedRequest(
      fixture.http,
      "203.0.113.9",
      "GET /h HTTP/1.1\r\nHost: hop.example.com\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n" +
        "Keep-Alive: 300\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n" +
        "X_Forwarded_For: 6.6.6.6\r\nX-Mine: kept\r\n\r\n",
    );
    await served;
    const lines = seenHead.split("\r\n");
    assertEquals(lines[0], "GET /h HTTP/1.1");
    assertEquals(lines[1], "Host: hop.example.com");
    const names = lines.slice(1).filter((l) => l).map((l) => l.slice(0, l.indexOf(":")));
    assertEquals(names, [
      "Host",
      "X-Mine",
      "X-Forwarded-For",
      "X-Forwarded-Proto",
      "X-Forwarded-Host",
      "X-Real-IP",
      "Forwarded",
      "Connection",
    ]);
    assertStringIncludes(seenHead, "X-Forwarded-For: 203.0.113.9\r\n");
    assertStringIncludes(
      seenHead,
      "Forwarded: for=203.0.113.9;proto=http;host=hop.example.com\r\n",
    );
    assertStringIncludes(seenHead, "Connection: keep-alive\r\n");

    assertEquals(answer.status, 200, answer.raw);
    assertEquals(answer.headers["x-kept"], "yes");
    assertEquals(answer.headers["transfer-encoding"], "chunked");
    for (const gone of ["x-internal", "keep-alive", "content-length"]) {
      assertEquals(answer.headers[gone], undefined, `${gone} passed the proxy`);
    }
    assertEquals(answer.headers.connection, "close");
    assertEquals(answer.body, "5\r\nhello\r\n0\r\n\r\n");
  } finally {
    await fixture.close();
    listener.close();
  }
});
