// Tests for src/api/server.ts: browser requests refused, bodies capped, the bearer token on
// TCP, GET bodies kept, and the Unix socket's directory, mode, stale file and removal.
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
