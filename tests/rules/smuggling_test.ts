// Request smuggling at the agent, over raw sockets: framings an upstream could read differently
// are answered 400 and never reach it, a malformed chunk is answered 400 instead of leaving the
// upstream waiting, and the client's own forwarding headers (any spelling) never pass through.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { echoUpstream, parseResponse, readAll, relayedConnect, startEngine } from "./_fixtures.ts";

const CLIENT = "203.0.113.9";

/** Sends `request` as a relayed client and reads the whole answer (the guard only ends a hang). */
async function exchange(port: number, request: string): Promise<string> {
  const conn = await relayedConnect(port, CLIENT, request);
  const guard = setTimeout(() => conn.close(), 10_000);
  try {
    return new TextDecoder().decode(await readAll(conn).catch(() => new Uint8Array(0)));
  } finally {
    clearTimeout(guard);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

Deno.test("ambiguous framings are answered 400 and never reach the upstream", async () => {
  let requests = 0;
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      requests++;
      return new Response(`seen ${await req.text().catch(() => "")}`);
    },
  );
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [{ domain: "app.example.com", destination: "127.0.0.1", port: upstream.addr.port }],
    });
    const head = "POST / HTTP/1.1\r\nHost: app.example.com\r\n";
    const refused: [string, string][] = [
      // Content-Length and Transfer-Encoding both: each reader could pick a different body.
      [
        `${head}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.example.com\r\n\r\n`,
        "both Content-Length and Transfer-Encoding",
      ],
      [
        `${head}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`,
        "both Content-Length and Transfer-Encoding",
      ],
      [
        "POST / HTTP/1.0\r\nHost: app.example.com\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.0",
      ],
      [`${head}Transfer-Encoding: chunked, identity\r\n\r\n`, "chunked"],
      [`${head}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, "Content-Length"],
      [`${head}Content-Length: abc\r\n\r\n`, "Content-Length"],
      [
        `${head}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
        "chunk",
      ],
    ];
    for (const [request, reason] of refused) {
      const raw = await exchange(fixture.http, request);
      const answer = parseResponse(raw);
      assertEquals(answer.status, 400, `${JSON.stringify(request)} -> ${JSON.stringify(raw)}`);
      assertStringIncludes(answer.body, reason);
      assertEquals(answer.headers.connection, "close");
    }
    const beforeGood = requests;
    assert(beforeGood <= 1, "only the malformed chunk's head may have reached the upstream");

    // The same site still serves well-framed requests, chunked or not.
    const chunked = parseResponse(
      await exchange(
        fixture.http,
        `${head}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      ),
    );
    assertEquals(chunked.status, 200);
    assertEquals(chunked.body, "seen abc");
    const sized = parseResponse(
      await exchange(fixture.http, `${head}Content-Length: 2\r\nConnection: close\r\n\r\nok`),
    );
    assertEquals(sized.body, "seen ok");
  } finally {
    await fixture.close();
    await upstream.shutdown();
  }
});

Deno.test("a client's Forwarded and X-Forwarded-* headers, in any spelling, are replaced", async () => {
  const upstream = echoUpstream();
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [{ domain: "app.example.com", destination: "127.0.0.1", port: upstream.port }],
    });
    const raw = await exchange(
      fixture.http,
      "GET / HTTP/1.1\r\nHost: app.example.com\r\n" +
        "Forwarded: for=10.0.0.1;proto=https\r\n" +
        "X-Forwarded-For: 10.0.0.2\r\n" +
        "X_Forwarded_For: 10.0.0.3\r\n" +
        "x_forwarded_proto: https\r\n" +
        "X_Real_IP: 10.0.0.4\r\n" +
        "X-Forwarded-Port: 1\r\n" +
        "X-Client-IP: 10.0.0.5\r\n" +
        "X-Other: kept\r\n" +
        "Connection: close\r\n\r\n",
    );
    const answer = parseResponse(raw);
    assertEquals(answer.status, 200, raw);
    const headers = JSON.parse(answer.body).headers as Record<string, string>;
    assertEquals(headers["forwarded"], `for=${CLIENT};proto=http;host=app.example.com`);
    assertEquals(headers["x-forwarded-for"], CLIENT);
    assertEquals(headers["x-forwarded-proto"], "http");
    assertEquals(headers["x-real-ip"], CLIENT);
    assertEquals(headers["x-other"], "kept");
    for (const name of Object.keys(headers)) {
      assert(!name.includes("_"), `${name} passed through`);
    }
    assertEquals(headers["x-forwarded-port"], undefined);
    assertEquals(headers["x-client-ip"], undefined);
    assert(!answer.body.includes("10.0.0."), answer.body);
  } finally {
    await fixture.close();
    await upstream.server.shutdown();
  }
});

Deno.test("a malformed body to a webRoot site is 400 and a malformed upstream answer is 502", async () => {
  // An upstream that answers every request with `reply`, whatever it was asked.
  const reply = { text: "" };
  const raw = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const rawLoop = (async () => {
    for await (const conn of raw) {
      conn.read(new Uint8Array(4096)).then(() => conn.write(new TextEncoder().encode(reply.text)))
        .catch(() => {}).finally(() => {
          try {
            conn.close();
          } catch { /* closed */ }
        });
    }
  })();
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [
        { domain: "files.example.com", webRoot: "/tmp" },
        { domain: "bad.example.com", destination: "127.0.0.1", port: raw.addr.port },
      ],
    });
    const files = parseResponse(
      await exchange(
        fixture.http,
        "GET / HTTP/1.1\r\nHost: files.example.com\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
      ),
    );
    assertEquals(files.status, 400);
    assertStringIncludes(files.body, "chunk");
    for (
      const text of [
        "garbage\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
      ]
    ) {
      reply.text = text;
      const answer = parseResponse(
        await exchange(fixture.http, "GET / HTTP/1.1\r\nHost: bad.example.com\r\n\r\n"),
      );
      assertEquals(answer.status, 502, text);
      assertStringIncludes(answer.body, "malformed");
    }
  } finally {
    await fixture.close();
    raw.close();
    await rawLoop.catch(() => {});
  }
});
