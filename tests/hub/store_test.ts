// The hub database: hashed secrets, stable tunnel addresses, ports, domains, rules, versioned
// migrations and what survives closing and reopening the file.
import { assert, assertEquals, assertNotEquals, assertThrows } from "../_support/assert.ts";
import {
  DATABASE_FILE,
  hashSecret,
  HubStore,
  hubTunnelAddress,
  SCHEMA_VERSION,
  StoreConflict,
  verifySecret,
} from "../../src/hub/client_store.ts";
import { DatabaseSync } from "node:sqlite";

const RANGE = { first: 22000, last: 22002 };
const CIDR = "100.89.128.0/20";
const HUB_IP = hubTunnelAddress(CIDR);

async function withStateDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "bhb-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("hashSecret() salts and verifySecret() accepts only the right secret", async () => {
  const a = await hashSecret("correct horse");
  const b = await hashSecret("correct horse");
  assertNotEquals(a, b, "two hashes of one secret differ by salt");
  assert(a.startsWith("scrypt$"));
  assert(!a.includes("correct horse"));
  assert(await verifySecret("correct horse", a));
  assert(!await verifySecret("correct horsf", a));
  assert(!await verifySecret("correct horse", "plain"));
});

Deno.test("HubStore stores the secret only hashed and verifies id and secret", async () => {
  await withStateDir(async (dir) => {
    const store = HubStore.open(dir);
    try {
      const { id, secret } = await store.addClient("router");
      assert(await store.verifyClient(id, secret));
      assert(!await store.verifyClient(id, secret + "x"));
      assert(!await store.verifyClient("nobody", secret));
      const fileText = new TextDecoder("latin1").decode(
        await Deno.readFile(`${dir}/${DATABASE_FILE}`),
      );
      assert(!fileText.includes(secret), "secret is not in the database file");
      assertEquals((await Deno.stat(`${dir}/${DATABASE_FILE}`)).mode! & 0o777, 0o600);
      assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
      const [listed] = store.listClients();
      assertEquals(listed.id, id);
      assertEquals(listed.name, "router");
      assert(!JSON.stringify(listed).includes(secret));
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore hands out stable tunnel addresses, skipping the hub's", async () => {
  await withStateDir(async (dir) => {
    const store = HubStore.open(dir);
    try {
      assertEquals(HUB_IP, "100.89.128.1");
      const a = (await store.addClient("a")).id;
      const b = (await store.addClient("b")).id;
      assertEquals(store.assignTunnelIp(a, CIDR, HUB_IP), "100.89.128.2");
      assertEquals(store.assignTunnelIp(b, CIDR, HUB_IP), "100.89.128.3");
      assertEquals(store.assignTunnelIp(a, CIDR, HUB_IP), "100.89.128.2", "stable");
      // Moved to another network: a fresh address inside it.
      assertEquals(store.assignTunnelIp(a, "10.9.0.0/24", "10.9.0.1"), "10.9.0.2");
      const tiny = "10.8.0.0/30"; // hosts .1 (hub) and .2
      assertEquals(store.assignTunnelIp(b, tiny, "10.8.0.1"), "10.8.0.2");
      const c = (await store.addClient("c")).id;
      assertThrows(() => store.assignTunnelIp(c, tiny, "10.8.0.1"), StoreConflict, "no free");
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore refuses a public key registered by another client", async () => {
  await withStateDir(async (dir) => {
    const store = HubStore.open(dir);
    try {
      const a = (await store.addClient()).id, b = (await store.addClient()).id;
      store.setPublicKey(a, "KEY");
      store.setPublicKey(a, "KEY");
      assertThrows(() => store.setPublicKey(b, "KEY"), StoreConflict, "another client");
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore allocates ports from the range, skips unusable ones and frees on release", async () => {
  await withStateDir(async (dir) => {
    const store = HubStore.open(dir);
    try {
      const a = (await store.addClient()).id, b = (await store.addClient()).id;
      assertEquals(store.allocatePort(a, RANGE), 22000);
      assertEquals(store.allocatePort(b, RANGE, (port) => port !== 22001), 22002);
      assertEquals(store.allocatePort(b, RANGE), 22001);
      assertEquals(store.allocatePort(b, RANGE), null, "range exhausted");
      assertEquals(store.portsOf(b), [22001, 22002]);
      assert(!store.releasePort(a, 22001), "cannot release another client's port");
      assert(store.releasePort(b, 22001));
      assertEquals(store.allocatePort(a, RANGE), 22001);
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore.applyRules() is all or nothing on domain and port conflicts", async () => {
  await withStateDir(async (dir) => {
    const store = HubStore.open(dir);
    try {
      const a = (await store.addClient()).id, b = (await store.addClient()).id;
      const portA = store.allocatePort(a, RANGE)!;
      store.applyRules(a, 1, ["a.example.com"], [portA], '{"https":[]}');
      const error = assertThrows(
        () => store.applyRules(b, 1, ["b.example.com", "a.example.com"], [], "{}"),
        StoreConflict,
        "a.example.com is claimed by another client",
      );
      assertEquals(error.code, "domain_taken");
      assertEquals(store.domainsOf(b), [], "b.example.com was not claimed either");
      assertThrows(
        () => store.applyRules(b, 2, ["b.example.com"], [portA], "{}"),
        StoreConflict,
        "not allocated",
      );
      assertEquals(store.domainsOf(b), []);
      assertEquals(store.rulesOf(b), null);
      store.applyRules(a, 2, ["c.example.com"], [], '{"x":1}');
      assertEquals(store.domainsOf(a), ["c.example.com"], "a sync replaces the whole set");
      assertEquals(store.rulesOf(a), { revision: 2, body: '{"x":1}' });
      store.applyRules(b, 3, ["a.example.com"], [], "{}");
      assertEquals(store.domainsOf(b), ["a.example.com"], "released domains can be claimed");
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore.removeClient() frees its ports, domains and rules", async () => {
  await withStateDir(async (dir) => {
    const store = HubStore.open(dir);
    try {
      const a = (await store.addClient()).id;
      const port = store.allocatePort(a, RANGE)!;
      store.applyRules(a, 1, ["a.example.com"], [port], "{}");
      assert(store.removeClient(a));
      assert(!store.removeClient(a));
      assertEquals(store.allPorts(), []);
      assertEquals(store.allDomains(), []);
      assertEquals(store.rulesOf(a), null);
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore keeps everything across reopen and sees other connections' changes", async () => {
  await withStateDir(async (dir) => {
    let store = HubStore.open(dir);
    const { id, secret } = await store.addClient("kept");
    store.assignTunnelIp(id, CIDR, HUB_IP);
    store.setPublicKey(id, "PUB");
    const port = store.allocatePort(id, RANGE)!;
    store.applyRules(id, 7, ["kept.example.com"], [port], '{"ports":[]}');
    store.setSetting("wg_private_key", "K");
    store.close();

    store = HubStore.open(dir);
    try {
      assert(await store.verifyClient(id, secret));
      const client = store.getClient(id)!;
      assertEquals(client.tunnelIP, "100.89.128.2");
      assertEquals(client.publicKey, "PUB");
      assertEquals(store.portsOf(id), [port]);
      assertEquals(store.domainsOf(id), ["kept.example.com"]);
      assertEquals(store.rulesOf(id)?.revision, 7);
      assertEquals(store.setting("wg_private_key"), "K");
      const before = store.dataVersion();
      const other = HubStore.open(dir);
      other.removeClient(id);
      other.close();
      assertNotEquals(
        store.dataVersion(),
        before,
        "data_version moves on another process's commit",
      );
      assertEquals(store.getClient(id), null);
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore migrates an older schema forward keeping its rows", async () => {
  await withStateDir(async (dir) => {
    const old = HubStore.open(dir, 1);
    assertEquals(old.schemaVersion(), 1);
    const { id, secret } = await old.addClient("from v1");
    old.close();
    const store = HubStore.open(dir);
    try {
      assertEquals(store.schemaVersion(), SCHEMA_VERSION);
      assert(SCHEMA_VERSION >= 2);
      assert(await store.verifyClient(id, secret));
      assertEquals(store.allocatePort(id, RANGE), 22000, "tables of later migrations exist");
    } finally {
      store.close();
    }
  });
});

Deno.test("HubStore refuses a database from a newer burrow", async () => {
  await withStateDir((dir) => {
    HubStore.open(dir).close();
    const db = new DatabaseSync(`${dir}/${DATABASE_FILE}`);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assertThrows(() => HubStore.open(dir), Error, "newer than this burrow");
    return Promise.resolve();
  });
});
