// The hub's private resources: `burrow hub resource add|list|remove` and `client add --org` on
// the command line (bad input: one line, exit code 2, nothing changed), and the view computed
// from them: which sites a client gets in its org, which clients a site serves, relay pairs.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { BURROW } from "../_support/burrow.ts";
import { run } from "../_support/netns.ts";
import { HubStore } from "../../src/hub/client_store.ts";
import { ResourceStore } from "../../src/hub/resource_store.ts";
import { ResourceView } from "../../src/hub/resource_view.ts";
import { SITE_SERVER_PORT } from "../../src/protocol/resources.ts";

function burrow(args: string[]) {
  return run([BURROW, ...args], { check: false });
}

Deno.test("burrow hub resource add/list/remove and client add --org; bad input exits 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bres-cli-" });
  try {
    const add = async (...extra: string[]) => {
      const result = await burrow(["hub", "client", "add", "--state-dir", dir, ...extra]);
      assertEquals(result.code, 0, result.stderr);
      return JSON.parse(result.stdout).id as string;
    };
    const site = await add("--name", "lab");
    const client = await add("--org", "acme", "--org", "default");
    const listedClients = JSON.parse(
      (await burrow(["hub", "client", "list", "--state-dir", dir])).stdout,
    );
    assertEquals(listedClients.map((c: { orgs: string[] }) => c.orgs), [["default"], [
      "acme",
      "default",
    ]]);
    const badOrg = await burrow(["hub", "client", "add", "--state-dir", dir, "--org", "no spaces"]);
    assertEquals(badOrg.code, 2);
    assertEquals(
      JSON.parse((await burrow(["hub", "client", "list", "--state-dir", dir])).stdout).length,
      2,
      "a refused client add creates nothing",
    );

    const resource = (...extra: string[]) =>
      burrow(["hub", "resource", "add", "--state-dir", dir, ...extra]);
    const ok = await resource(
      "--site",
      site,
      "--destination",
      "10.20.0.5",
      "--alias",
      "Web.Lab.Internal",
      "--access",
      client,
    );
    assertEquals(ok.code, 0, ok.stderr);
    const created = JSON.parse(ok.stdout);
    assertEquals(created.destination, "10.20.0.5/32");
    assertEquals(created.alias, "web.lab.internal");
    assertEquals(created.org, "default");
    assertEquals(created.access, [client]);
    assert(typeof created.id === "string" && created.id.length > 4);

    for (
      const [args, message] of [
        [["--site", "nobody", "--destination", "10.20.0.6"], "no client"],
        [["--site", site, "--destination", "10.20.0.300"], "invalid destination"],
        [["--site", site, "--destination", "10.20.0.6", "--alias", "bad name"], "invalid alias"],
        [["--site", site, "--destination", "10.20.0.0/24", "--alias", "net"], "single-address"],
        [["--site", site, "--destination", "10.20.0.7", "--alias", "web.lab.internal"], "already"],
        [["--site", site, "--destination", "10.20.0.7", "--access", "ghost"], "no client"],
        [["--site", site, "--destination", "10.20.0.7", "--org", "a b"], "invalid org"],
        [["--destination", "10.20.0.7"], "--site"],
      ] as const
    ) {
      const refused = await resource(...args);
      assertEquals(refused.code, 2, `${args.join(" ")}: ${refused.stdout}`);
      assertStringIncludes(refused.stderr, message);
      assertEquals(refused.stderr.trim().split("\n").length, 1, refused.stderr);
    }
    // The same alias in another org is fine.
    const other = await resource(
      "--site",
      site,
      "--destination",
      "10.20.0.7",
      "--alias",
      "web.lab.internal",
      "--org",
      "acme",
    );
    assertEquals(other.code, 0, other.stderr);
    const listed = JSON.parse(
      (await burrow(["hub", "resource", "list", "--state-dir", dir])).stdout,
    );
    assertEquals(listed.length, 2);
    const removed = await burrow(["hub", "resource", "remove", "--state-dir", dir, created.id]);
    assertEquals(removed.code, 0);
    const again = await burrow(["hub", "resource", "remove", "--state-dir", dir, created.id]);
    assertEquals(again.code, 2);
    assertEquals(
      JSON.parse((await burrow(["hub", "resource", "list", "--state-dir", dir])).stdout).length,
      1,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resource view: sites per client and org, clients per site, relay partners; cascade on client remove", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bres-view-" });
  const hub = HubStore.open(dir);
  const resources = ResourceStore.open(dir);
  try {
    const site = (await hub.addClient("lab")).id;
    const alice = (await hub.addClient("alice")).id;
    const bob = (await hub.addClient("bob")).id;
    resources.setOrgs(alice, ["default", "acme"]);
    const keys: Record<string, string> = {};
    for (const [id, key] of [[site, "S"], [alice, "A"], [bob, "B"]]) {
      keys[id] = btoa(key.repeat(32));
      hub.setPublicKey(id, keys[id]);
      hub.assignTunnelIp(id, "100.89.128.0/20", "100.89.128.1");
    }
    resources.add({ site, destination: "10.20.0.5", alias: "web.internal", access: [alice] });
    resources.add({ site, destination: "10.30.0.0/24", org: "acme" });
    const view = () =>
      new ResourceView({
        clients: hub.listClients(),
        resources: resources.list(),
        orgsOf: (id) => resources.orgsOf(id),
        siteNumber: (id) => resources.siteNumber(id),
        relayEndpoint: "192.0.2.1:21820",
      });
    const [lab] = view().sitesFor(alice, "default");
    assertEquals(lab.name, "lab");
    assertEquals(lab.siteId, 2);
    assertEquals(lab.publicKey, keys[site]);
    assertEquals(lab.serverPort, SITE_SERVER_PORT);
    assertEquals(lab.remoteSubnets, ["10.20.0.5/32"]);
    assertEquals(lab.aliases, [{ alias: "web.internal", aliasAddress: "10.20.0.5" }]);
    assertEquals(lab.endpoint, "192.0.2.1:21820");
    assertEquals(view().sitesFor(alice, "acme")[0].remoteSubnets, ["10.30.0.0/24"]);
    assertEquals(view().sitesFor(bob, "default"), [], "bob is not on the list");
    assertEquals(view().sitesFor(bob, "acme"), [], "bob is not in acme");
    assertEquals(view().sitesFor(site, "default"), [], "a site never gets itself");
    // The site serves alice with both destinations (every org she is in); bob not at all.
    const clients = view().clientsOf(site);
    assertEquals(clients.length, 1);
    assertEquals(clients[0].publicKey, keys[alice]);
    assertEquals(clients[0].destinations, ["10.20.0.5/32", "10.30.0.0/24"]);
    assertEquals([...view().partnersOf(keys[alice])], [keys[site]]);
    assertEquals([...view().partnersOf(keys[site])], [keys[alice]]);
    assertEquals(view().partnersOf(keys[bob]).size, 0);
    // Removing the site (another connection) takes its resources along.
    hub.removeClient(site);
    assertEquals(resources.list(), []);
  } finally {
    resources.close();
    hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});
