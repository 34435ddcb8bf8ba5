// `burrow hub` on the command line: client add/list/remove against a state directory, and
// usage errors with exit code 2.
import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { BURROW } from "../_support/burrow.ts";
import { run } from "../_support/netns.ts";
import { HubStore } from "../../src/hub/client_store.ts";

/** Runs the burrow launcher to completion; its exit code is the caller's to check. */
function burrow(args: string[]) {
  return run([BURROW, ...args], { check: false });
}

Deno.test("burrow hub client add prints id and secret once; list never shows secrets; remove deletes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-cli-" });
  try {
    const added = await burrow(["hub", "client", "add", "--state-dir", dir, "--name", "router"]);
    assertEquals(added.code, 0, added.stderr);
    const { id, secret } = JSON.parse(added.stdout);
    assert(typeof id === "string" && id.length >= 16);
    assert(typeof secret === "string" && secret.length >= 40);
    const listed = await burrow(["hub", "client", "list", "--state-dir", dir]);
    assertEquals(listed.code, 0);
    const clients = JSON.parse(listed.stdout);
    assertEquals(clients.length, 1);
    assertEquals(clients[0].id, id);
    assertEquals(clients[0].name, "router");
    assertEquals(clients[0].ports, []);
    assert(!listed.stdout.includes(secret), "no secret in client list");
    assert(!added.stderr.includes(secret) && !listed.stderr.includes(secret));
    const removed = await burrow(["hub", "client", "remove", "--state-dir", dir, id]);
    assertEquals(removed.code, 0);
    const again = await burrow(["hub", "client", "remove", "--state-dir", dir, id]);
    assertEquals(again.code, 1);
    assertStringIncludes(again.stderr, "no client");
    assertEquals(
      JSON.parse((await burrow(["hub", "client", "list", "--state-dir", dir])).stdout),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("burrow hub refuses bad command lines with exit code 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-cli-" });
  try {
    for (
      const args of [
        ["hub", "--state-dir", dir],
        ["hub", "client", "frob", "--state-dir", dir],
        ["hub", "client", "remove", "--state-dir", dir],
        ["hub", "--port-range", "5-1", "--public-host", "x"],
        ["hub", "--tunnel-cidr", "nope", "--public-host", "x"],
        ["hub", "--public-host", "x", "--tls-cert", "c.pem", "--state-dir", dir],
        ["hub", "serve-please", "--state-dir", dir],
        ["hub", "client", "add", "--count", "3", "--state-dir", dir],
        ["hub", "client", "add", "--count", "0", "--name", "e", "--state-dir", dir],
        ["hub", "--public-host", "x", "--ports-per-agent", "0", "--state-dir", dir],
        ["hub", "--public-host", "x", "--portmap-deny", "10.0.0.0/8,nope", "--state-dir", dir],
      ]
    ) {
      const result = await burrow(args);
      assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    }
    const help = await burrow(["hub", "--help"]);
    for (
      const flag of [
        "--listen",
        "--public-host",
        "--tls-cert",
        "--wg-port",
        "--tunnel-cidr",
        "--port-range",
        "--http-port",
        "--https-port",
        "client add",
        "--ports-per-agent",
        "--portmap-deny",
        "--count",
      ]
    ) {
      assertStringIncludes(help.stdout, flag);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("burrow hub client add --count N --name PREFIX adds N clients and prints them as an array", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bhb-cli-" });
  try {
    const added = await burrow([
      "hub",
      "client",
      "add",
      "--state-dir",
      dir,
      "--count",
      "5",
      "--name",
      "edge",
    ]);
    assertEquals(added.code, 0, added.stderr);
    const clients = JSON.parse(added.stdout) as { id: string; secret: string }[];
    assertEquals(clients.length, 5);
    assertEquals(new Set(clients.map((c) => c.id)).size, 5);
    for (const client of clients) {
      assertEquals(Object.keys(client).sort(), ["id", "secret"]);
      assert(client.secret.length >= 40);
    }
    const listed = JSON.parse((await burrow(["hub", "client", "list", "--state-dir", dir])).stdout);
    assertEquals(
      listed.map((c: { name: string }) => c.name).sort(),
      ["edge-1", "edge-2", "edge-3", "edge-4", "edge-5"],
    );
    const store = HubStore.open(dir);
    try {
      assert(await store.verifyClient(clients[4].id, clients[4].secret), "secrets verify");
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
