// Tests for src/api/server.ts and its listener (src/api/api_listener.ts): browser requests
// refused, bodies capped, the bearer token on TCP, GET bodies kept, the Unix socket's
// directory, mode, stale file, removal and a live one refused; head timeouts, connection caps,
// malformed framing and keep-alive (issue #13 items 3 and 10).
import { assert, assertEquals, assertRejects } from "../_support/assert.ts";
import { curlAnswer, type HttpAnswer } from "../_support/curl.ts";
import { waitFor } from "../_support/netns.ts";
import { ApiServer, MAX_BODY_BYTES } from "../../src/api/server.ts";
import { Router } from "../../src/api/router.ts";
import { DomainError } from "../../src/errors/mod.ts";

const echo = new Router([
  {
    family: "olm",
    methods: ["GET", "POST"],
    path: "/echo",
    handle: (req) => ({ status: 200, json: { method: req.method, bytes: req.body.length } }),
  },
  {
    family: "packetriot",
    methods: ["GET"],
    path: "/api/client/v1.0/info",
    handle: () => ({ status: 200, json: { status: true } }),
  },
]);

async function withServer(
  fn: (server: ApiServer, socketPath: string, dir: string) => Promise<void>,
  options: { apiToken?: string; socketMode?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bag-srv-" });
  const socketPath = `${dir}/made/here/api.sock`;
  const server = await ApiServer.start({
    router: echo,
    socketPath,
    tcp: { hostname: "127.0.0.1", port: 0 },
    ...options,
  });
  try {
    await fn(server, socketPath, dir);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function curl(args: string[]): Promise<HttpAnswer> {
  return curlAnswer(null, args);
}

Deno.test("ApiServer refuses requests with Origin or Referer with 403 on both listeners", async () => {
  await withServer(async (server, socketPath) => {
    for (
      const target of [
        ["--unix-socket", socketPath, "http://localhost/echo"],
        [`http://127.0.0.1:${server.tcpPort}/echo`],
      ]
    ) {
      assertEquals((await curl(target)).status, 200);
      assertEquals((await curl([...target, "-H", "Origin: http://evil.example"])).status, 403);
      assertEquals((await curl([...target, "-H", "Referer: http://evil.example/x"])).status, 403);
    }
    const packetriot = await curl([
      "--unix-socket",
      socketPath,
      "-H",
      "Origin: null",
      "http://localhost/api/client/v1.0/info",
    ]);
    assertEquals(packetriot.status, 403);
    assertEquals(JSON.parse(packetriot.body).status, false, "Packetriot envelope");
  });
});

Deno.test("ApiServer keeps a GET body and answers 413 past 1 MiB", async () => {
  await withServer(async (_server, socketPath, dir) => {
    const url = ["--unix-socket", socketPath, "http://localhost/echo"];
    const get = await curl([...url, "-X", "GET", "-d", '{"a":1}']);
    assertEquals(JSON.parse(get.body), { method: "GET", bytes: 7 });
    await Deno.writeFile(`${dir}/exact`, new Uint8Array(MAX_BODY_BYTES).fill(0x61));
    const exact = await curl([...url, "--data-binary", `@${dir}/exact`]);
    assertEquals(JSON.parse(exact.body).bytes, MAX_BODY_BYTES);
    await Deno.writeFile(`${dir}/big`, new Uint8Array(MAX_BODY_BYTES + 1).fill(0x61));
    assertEquals((await curl([...url, "--data-binary", `@${dir}/big`])).status, 413);
    // Chunked, so no Content-Length announces the size.
    const chunked = await curl([
      ...url,
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${dir}/big`,
    ]);
    assertEquals(chunked.status, 413);
  });
});

Deno.test("ApiServer requires the bearer token on TCP only", async () => {
  await withServer(async (server, socketPath) => {
    const tcp = `http://127.0.0.1:${server.tcpPort}/echo`;
    const none = await curl([tcp]);
    assertEquals(none.status, 401);
    assert(!none.body.includes("tok-123456"), "the token is not echoed");
    assertEquals((await curl([tcp, "-H", "Authorization: Bearer wrong"])).status, 401);
    assertEquals((await curl([tcp, "-H", "Authorization: Bearer tok-123456"])).status, 200);
    assertEquals((await curl(["--unix-socket", socketPath, "http://localhost/echo"])).status, 200);
  }, { apiToken: "tok-123456" });
});

Deno.test("ApiServer creates the socket's directory, sets its mode and removes it at stop", async () => {
  await withServer(async (_server, socketPath) => {
    const info = await Deno.lstat(socketPath);
    assert(info.isSocket);
    assertEquals(info.mode! & 0o777, 0o660, "burrow's default");
  });
  await withServer(async (_server, socketPath) => {
    assertEquals((await Deno.lstat(socketPath)).mode! & 0o777, 0o600);
  }, { socketMode: 0o600 });

  const dir = await Deno.makeTempDir({ prefix: "bag-srv-" });
  try {
    const socketPath = `${dir}/api.sock`;
    const first = await ApiServer.start({ router: echo, socketPath });
    await first.stop();
    await assertRejects(() => Deno.lstat(socketPath), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ApiServer replaces a stale socket but never a regular file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-srv-" });
  try {
    const socketPath = `${dir}/api.sock`;
    // A stale socket: its listener was killed before it could remove the file.
    const socat = new Deno.Command("socat", {
      args: [`UNIX-LISTEN:${socketPath}`, "STDOUT"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor("socat's socket", async () => (await Deno.lstat(socketPath)).isSocket === true);
    socat.kill("SIGKILL");
    await socat.status;
    assert((await Deno.lstat(socketPath)).isSocket, "a stale socket is in place");
    const server = await ApiServer.start({ router: echo, socketPath });
    assertEquals((await curl(["--unix-socket", socketPath, "http://localhost/echo"])).status, 200);
    await server.stop();

    await Deno.writeTextFile(socketPath, "precious");
    await assertRejects(() => ApiServer.start({ router: echo, socketPath }), Error, "not a socket");
    assertEquals(await Deno.readTextFile(socketPath), "precious");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Issue #13 item 10: a live socket is someone else's API; never take it over or delete it.
Deno.test("ApiServer refuses a socket another server answers on, and leaves it in place", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-srv-" });
  try {
    const socketPath = `${dir}/api.sock`;
    const first = await ApiServer.start({ router: echo, socketPath });
    try {
      const refused = await assertRejects(
        () => ApiServer.start({ router: echo, socketPath }),
        DomainError,
        socketPath,
      );
      assertEquals(refused.kind, "conflict");
      assert(refused.message.includes("another process is serving it"), refused.message);
      const still = await curl(["--unix-socket", socketPath, "http://localhost/echo"]);
      assertEquals(still.status, 200, "the first server keeps its socket");
    } finally {
      await first.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether the server closed `conn` (a read ends) rather than keeping it open for `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    conn.read(new Uint8Array(1024)).then((n) => n === null, () => true),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return result;
}

// Issue #13 item 3: a connection that sends no complete head is closed after the head timeout.
Deno.test("ApiServer closes a connection whose head does not arrive in time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-srv-" });
  const server = await ApiServer.start({
    router: echo,
    tcp: { hostname: "127.0.0.1", port: 0 },
    limits: { headTimeoutMs: 200 },
  });
  try {
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort! });
    const partial = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort! });
    await partial.write(new TextEncoder().encode("GET /echo HTTP/1.1\r\nHost: x\r\n"));
    assert(await closedWithin(idle, 5000), "an idle connection is closed");
    assert(await closedWithin(partial, 5000), "a half-sent head is closed");
    idle.close();
    partial.close();
    assertEquals((await curl([`http://127.0.0.1:${server.tcpPort}/echo`])).status, 200);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

// Issue #13 item 3: per-source and total caps close the extra connection at once.
Deno.test("ApiServer caps connections per source address and in total", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bag-srv-" });
  const socketPath = `${dir}/api.sock`;
  const server = await ApiServer.start({
    router: echo,
    socketPath,
    tcp: { hostname: "127.0.0.1", port: 0 },
    limits: { maxPerSource: 3, maxConnections: 4 },
  });
  const held: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      held.push(await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort! }));
    }
    const extra = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort! });
    assert(await closedWithin(extra, 5000), "a fourth connection from 127.0.0.1 is closed");
    extra.close();
    for (let i = 0; i < 4; i++) {
      held.push(await Deno.connect({ transport: "unix", path: socketPath }));
    }
    const over = await Deno.connect({ transport: "unix", path: socketPath });
    assert(await closedWithin(over, 5000), "a fifth connection on the socket is closed");
    over.close();
    // The held ones are still served.
    await held[0].write(new TextEncoder().encode("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buffer = new Uint8Array(4096);
    const n = await held[0].read(buffer);
    assert(new TextDecoder().decode(buffer.subarray(0, n ?? 0)).startsWith("HTTP/1.1 200 OK"));
    for (const conn of held.splice(0)) conn.close();
    await waitFor(
      "room again",
      async () =>
        (await curl(["--unix-socket", socketPath, "http://localhost/echo"])).status === 200,
    );
  } finally {
    for (const conn of held) conn.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ApiServer answers 400 to a malformed head and to both framings at once", async () => {
  await withServer(async (server) => {
    const send = async (text: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort! });
      try {
        await conn.write(new TextEncoder().encode(text));
        const buffer = new Uint8Array(4096);
        const n = await conn.read(buffer);
        return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
      } finally {
        conn.close();
      }
    };
    assert((await send("NOT A REQUEST\r\n\r\n")).startsWith("HTTP/1.1 400 "));
    assert(
      (await send(
        "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      )).startsWith("HTTP/1.1 400 "),
    );
    const chunked = await send(
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert(chunked.startsWith("HTTP/1.1 200 OK"), chunked);
    assert(chunked.includes('"bytes":5'), chunked);
  });
});

Deno.test("ApiServer serves several requests on one kept-alive connection, pipelined too", async () => {
  await withServer(async (server) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort! });
    try {
      const request = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
      await conn.write(new TextEncoder().encode(request + request));
      let text = "";
      const buffer = new Uint8Array(4096);
      while ((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length < 2) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      assertEquals((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 2, text);
      assert(!text.includes("connection: close"), text);
    } finally {
      conn.close();
    }
  });
});
