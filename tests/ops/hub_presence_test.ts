// The hub store's presence columns behind `burrow hub client list`: a database made before
// them migrates with every client offline and never seen; online, lastSeen and the agent's
// version follow markOnline / touchClient / markOffline, and a starting hub clears stale online.
import { assert, assertEquals } from "../_support/assert.ts";
import { HubStore } from "../../src/hub/mod.ts";

Deno.test("hub store: presence migrates from an older database and follows the session", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bops-presence-" });
  try {
    // A database as the release before presence left it (schema version 2).
    const old = HubStore.open(dir, 2);
    const { id } = await old.addClient("edge");
    old.close();

    const store = HubStore.open(dir);
    try {
      const fresh = store.getClient(id)!;
      assertEquals([fresh.online, fresh.lastSeen, fresh.agentVersion], [false, null, null]);

      const before = Date.now();
      store.markOnline(id, "0.1.0");
      const online = store.getClient(id)!;
      assertEquals([online.online, online.agentVersion], [true, "0.1.0"]);
      assert(online.lastSeen! >= before);

      store.touchClient(id);
      assert(store.getClient(id)!.lastSeen! >= online.lastSeen!);

      store.markOffline(id);
      const offline = store.listClients()[0];
      assertEquals([offline.online, offline.agentVersion], [false, "0.1.0"]);
      assert(offline.lastSeen! >= online.lastSeen!);

      // A hub that died with the agent online: the next start marks it offline.
      store.markOnline(id, "0.1.1");
      store.markAllOffline();
      assertEquals(store.getClient(id)!.online, false);
      assertEquals(store.getClient(id)!.agentVersion, "0.1.1");
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
