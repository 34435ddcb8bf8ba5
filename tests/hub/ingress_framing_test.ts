// The hub's port 80 over raw sockets: a first request whose framing the agent would refuse
// (Content-Length with Transfer-Encoding, Transfer-Encoding in HTTP/1.0, bad lengths, bare LF
// line ends, folded or malformed header lines) is answered 400 at the edge and never relayed;
// a well-formed one still reaches the agent.
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { startTestHub, TestAgent } from "./_hub_support.ts";
import { type AgentServer, startHttpServer } from "./_agent_servers.ts";
import { concat } from "../../src/net/stream.ts";

const AGENT_IP = "100.89.128.2";

/** Sends `payload` on a fresh connection and reads until the hub closes (the guard ends a hang). */
async function exchange(port: number, payload: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const guard = setTimeout(() => conn.close(), 15_000);
  await conn.write(new TextEncoder().encode(payload));
  const chunks = await Array.fromAsync(conn.readable).catch(() => []);
  clearTimeout(guard);
  return new TextDecoder().decode(concat(chunks));
}

Deno.test("the hub answers 400 to a first request the agent would refuse and relays none of it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-framing-" });
  let relayed = 0;
  const site: AgentServer = startHttpServer("A");
  // Counts what the hub relays before handing it to the HTTP stand-in.
  const counter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const counting = (async () => {
    for await (const conn of counter) {
      relayed++;
      Deno.connect({ hostname: "127.0.0.1", port: site.port }).then((inner) =>
        Promise.all([
          conn.readable.pipeTo(inner.writable).catch(() => {}),
          inner.readable.pipeTo(conn.writable).catch(() => {}),
        ])
      ).catch(() => conn.close());
    }
  })();
  const hub = await startTestHub(
    dir,
    new Map([[`${AGENT_IP}:80`, (counter.addr as Deno.NetAddr).port]]),
  );
  let agent: TestAgent | undefined;
  try {
    const { id, secret } = await hub.store.addClient("a");
    agent = await TestAgent.connect(`http://127.0.0.1:${hub.controlPort}`, id, secret);
    await agent.register();
    assertEquals(
      (await agent.request("burrow/rules/sync", {
        https: [{ domain: "a.example.com", destination: "127.0.0.1", port: 8080 }],
      })).type,
      "burrow/rules/applied",
    );
    const host = "Host: a.example.com\r\n";
    const cases: [string, string][] = [
      [
        `POST / HTTP/1.1\r\n${host}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        "both Content-Length and Transfer-Encoding",
      ],
      [`POST / HTTP/1.0\r\n${host}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, "HTTP/1.0"],
      [`POST / HTTP/1.1\r\n${host}Transfer-Encoding: gzip\r\n\r\n`, "chunked"],
      [`POST / HTTP/1.1\r\n${host}Content-Length: 2\r\nContent-Length: 3\r\n\r\n`, "Content"],
      [`POST / HTTP/1.1\r\n${host}Content-Length: 0x10\r\n\r\n`, "Content-Length"],
      ["GET / HTTP/1.1\nHost: a.example.com\n\n", "CRLF"],
      [`GET / HTTP/1.1\r\n${host} folded: value\r\n\r\n`, "header"],
      ["GET / HTTP/1.1\r\nHost : a.example.com\r\n\r\n", "header"],
    ];
    for (const [payload, reason] of cases) {
      const answer = await exchange(hub.httpPort, payload);
      assert(answer.startsWith("HTTP/1.1 400 "), `${JSON.stringify(payload)} -> ${answer}`);
      assertStringIncludes(answer, reason);
    }
    assertEquals(relayed, 0, "nothing malformed was relayed to the agent");

    const good = await exchange(hub.httpPort, `GET / HTTP/1.1\r\n${host}\r\n`);
    assertStringIncludes(good, "agent=A host=a.example.com");
    assertEquals(relayed, 1);
  } finally {
    await agent?.close();
    await hub.close();
    counter.close();
    await counting.catch(() => {});
    await site.close();
    await Deno.remove(dir, { recursive: true });
  }
});
