// The control endpoint behind the mutual-TLS front (`--client-ca`): the listener sees each
// client's real address (so the per-address cap and the login gate work per client, not for
// everyone at once as the front's loopback), a connection to the listener's socket without the
// front's PROXY header gets nothing, and a TLS handshake that never comes is dropped.
import { assert, assertEquals } from "../_support/assert.ts";
import { makeMutualTlsFiles, startLoopbackFront } from "../_support/mutual_tls.ts";
import { ControlListener } from "../../src/hub/control_listener.ts";

async function withFront(
  fn: (ctx: {
    port: number;
    seen: string[];
    path: string;
    request(from: string): Promise<number>;
  }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "bhb-front-" });
  const files = await makeMutualTlsFiles(dir, ["localhost", "127.0.0.1"]);
  const seen: string[] = [];
  const path = `${dir}/control.sock`;
  const held: Array<() => void> = [];
  const listener = new ControlListener({
    hostname: "127.0.0.1",
    port: 0,
    frontedPath: path,
    webSocketPath: "/ws",
    // The first request from 127.0.0.2 hangs, holding its opening, until the test ends.
    onRequest: (_request, remote) => {
      seen.push(remote);
      if (remote !== "127.0.0.2" || held.length) return Promise.resolve(new Response("ok"));
      return new Promise((resolve) => held.push(() => resolve(new Response("late"))));
    },
    onUpgrade: () => new Response(null, { status: 404 }),
    maxMessageBytes: 1024,
    maxOpeningPerAddress: 1,
    headTimeoutMs: 5_000,
  });
  const front = await startLoopbackFront(files, path, { handshakeTimeoutMs: 300 });
  const pem = await Deno.readTextFile(files.clientPem);
  const clients: Deno.HttpClient[] = [];
  const request = async (from: string) => {
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(files.caFile)],
      cert: pem,
      key: pem,
      localAddress: from,
      poolMaxIdlePerHost: 0,
    });
    clients.push(client);
    const response = await fetch(`https://127.0.0.1:${front.port}/login`, { client });
    await response.body?.cancel();
    return response.status;
  };
  try {
    await fn({ port: front.port, seen, path, request });
  } finally {
    for (const release of held) release();
    for (const client of clients) client.close();
    await front.close();
    await listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("mutual-TLS front: the listener sees each client's own address and caps per address", async () => {
  await withFront(async ({ seen, request }) => {
    // 127.0.0.2's first request holds its one opening...
    const first = request("127.0.0.2").catch(() => 0);
    for (let i = 0; i < 100 && !seen.includes("127.0.0.2"); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(seen, ["127.0.0.2"], "the client's address, not the front's loopback");
    // ...so its second is refused at once, while another address is served.
    assertEquals(await request("127.0.0.2"), 429);
    assertEquals(await request("127.0.0.3"), 200);
    assertEquals(seen, ["127.0.0.2", "127.0.0.3"]);
    await Promise.race([first, Promise.resolve()]);
  });
});

Deno.test("mutual-TLS front: the listener's socket answers nothing without the front's header", async () => {
  await withFront(async ({ path, seen }) => {
    const conn = await Deno.connect({ transport: "unix", path });
    await conn.write(new TextEncoder().encode("GET /login HTTP/1.1\r\nhost: x\r\n\r\n"));
    const n = await conn.read(new Uint8Array(64)).catch(() => null);
    assertEquals(n, null, "closed without an answer");
    conn.close();
    assertEquals(seen, []);
    const mode = (await Deno.stat(path.replace(/\/control\.sock$/, ""))).mode! & 0o777;
    assertEquals(mode & 0o077, 0, "the socket's directory is private");
  });
});

Deno.test("mutual-TLS front: a client that never starts its TLS handshake is dropped", async () => {
  await withFront(async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const started = Date.now();
    const n = await conn.read(new Uint8Array(64)).catch(() => null);
    assertEquals(n, null);
    assert(Date.now() - started < 4_000, "dropped by the handshake timeout, not the listener's");
    conn.close();
  });
});
