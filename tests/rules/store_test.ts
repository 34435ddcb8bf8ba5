// The rule store: pure plans (create/update/delete/allocation), atomic 0600 persistence, and a
// restart of the engine bringing every rule and listener back.

import { assertEquals, assertRejects, assertThrows } from "../_support/assert.ts";
import { parseTrafficKeys, parseTrafficRules, RuleError } from "../../src/protocol/mod.ts";
import {
  EMPTY_RULE_SET,
  planAllocated,
  planCreate,
  planDelete,
  planHubPorts,
  planReleased,
  planUpdate,
  RuleStore,
} from "../../src/rules/rule_store.ts";
import { freePort } from "../_support/ports.ts";
import { relayedConnect, startEngine } from "./_fixtures.ts";

Deno.test("plans change a copy, count revisions and name the offending object", () => {
  const allocated = planAllocated(EMPTY_RULE_SET, 22872);
  assertEquals(EMPTY_RULE_SET.ports, [], "the input is untouched");
  const created = planCreate(
    allocated,
    parseTrafficRules({
      https: [{ domain: "a.example.com", webRoot: "/srv" }],
      ports: [{ port: 22872, destination: "10.0.0.1", dstPort: 22 }],
      portmaps: [{ port: 15001, dstPort: 22132 }],
    }),
  );
  assertEquals(created.revision, 2);
  assertEquals(created.ports, [{ port: 22872, destination: "10.0.0.1", dstPort: 22 }]);
  const again = assertThrows(
    () =>
      planCreate(
        created,
        parseTrafficRules({ https: [{ domain: "a.example.com", webRoot: "/x" }] }),
      ),
    RuleError,
  );
  assertEquals([again.kind, again.message.startsWith("https[0] (a.example.com)")], [
    "conflict",
    true,
  ]);
  assertEquals(
    assertThrows(
      () => planUpdate(created, parseTrafficRules({ portmaps: [{ port: 15002, dstPort: 1 }] })),
      RuleError,
    ).kind,
    "not_found",
  );
  const busy = assertThrows(
    () =>
      planCreate(
        created,
        parseTrafficRules({ ports: [{ port: 22872, destination: "10.0.0.2", dstPort: 22 }] }),
      ),
    RuleError,
  );
  assertEquals(busy.kind, "conflict");
  // Creating a rule without destination clears the forward (the spec's way to clear).
  assertEquals(
    planCreate(created, parseTrafficRules({ ports: [{ port: 22872 }] })).ports,
    [{ port: 22872, destination: "", dstPort: 0 }],
  );
  const deleted = planDelete(created, parseTrafficKeys({ ports: [{ port: 22872 }] }));
  assertEquals(deleted.ports, [{ port: 22872, destination: "", dstPort: 0 }]);
  assertEquals(planReleased(deleted, 22872).ports, []);
  const synced = planHubPorts(deleted, [22872, 30000]);
  assertEquals(synced.ports.map((p) => p.port), [22872, 30000]);
  assertEquals(planHubPorts(synced, [30000, 22872]), synced, "same set: no new revision");
});

Deno.test("RuleStore writes atomically with mode 0600 and refuses a damaged file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "brl-store-" });
  try {
    const store = await RuleStore.open(dir);
    await store.replace(planAllocated(store.current, 30001));
    assertEquals((await Deno.stat(`${dir}/rules.json`)).mode! & 0o777, 0o600);
    const leftovers = [...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp-"));
    assertEquals(leftovers, []);
    assertEquals((await RuleStore.open(dir)).current.ports[0].port, 30001);
    await Deno.writeTextFile(`${dir}/rules.json`, '{"https":[{"domain":"bad_name"}]}');
    await assertRejects(() => RuleStore.open(dir), RuleError, "https[0] (bad_name)");
    await Deno.writeTextFile(`${dir}/rules.json`, "{truncated");
    await assertRejects(() => RuleStore.open(dir), SyntaxError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a restarted engine restores every rule and listener", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "brl-restore-" });
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echoLoop = (async () => {
    for await (const conn of echo) conn.readable.pipeTo(conn.writable).catch(() => {});
  })();
  const allocated = freePort();
  const mapped = freePort();
  try {
    const first = await startEngine({ stateDir, pool: [allocated] });
    await first.engine.allocate();
    await first.engine.create({
      https: [{ domain: "kept.example.com", webRoot: "/tmp" }],
      ports: [{
        port: allocated,
        destination: "127.0.0.1",
        dstPort: (echo.addr as Deno.NetAddr).port,
      }],
      portmaps: [{ port: mapped, dstPort: 22132 }],
    });
    const before = first.engine.rules();
    await first.close();

    const second = await startEngine({ stateDir });
    try {
      assertEquals(second.engine.rules(), before);
      // The forward listener is back and relays.
      const conn = await relayedConnect(allocated, "192.0.2.1", "hi");
      const buffer = new Uint8Array(8);
      const n = await conn.read(buffer);
      assertEquals(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "hi");
      conn.close();
      // The port map's local listener is back: binding it again fails.
      assertThrows(
        () => Deno.listen({ hostname: "127.0.0.1", port: mapped }),
        Deno.errors.AddrInUse,
      );
    } finally {
      await second.close();
    }
  } finally {
    echo.close();
    await echoLoop.catch(() => {});
    await Deno.remove(stateDir, { recursive: true });
  }
});
