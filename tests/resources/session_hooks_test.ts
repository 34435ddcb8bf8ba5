// The session's hooks for private resources, against the fake hub with a fake device: `dns`
// resolves peers' endpoint names through the given server (not the system resolver);
// extensions see the tunnel after connect and every peer change, get the messages the session
// does not handle, and wind down before the tunnel closes.

import { assertEquals } from "../_support/assert.ts";
import { waitFor } from "../_support/netns.ts";
import { FakeHub, fakeSite } from "../_support/fake_hub.ts";
import { fakeTunnels } from "../_support/fake_device.ts";
import { Session, type SessionExtension, type TunnelView } from "../../src/session/mod.ts";
import { generatePrivateKey } from "../../src/curve25519/mod.ts";
import { Logger } from "../../src/log/logger.ts";
import { MSG } from "../../src/protocol/control.ts";
import { resolverVia } from "../../src/agent/endpoint_resolver.ts";
import { AliasTable, DnsResolver, DnsServer } from "../../src/dns/mod.ts";

const SECRET = "hooks-secret-value";

Deno.test("session: `dns` resolves a site's endpoint name; extensions follow the tunnel", async () => {
  // The DNS server `dns` names: knows site.burrow.test.
  const dns = await DnsServer.start({
    address: "127.0.0.1",
    port: 0,
    resolver: new DnsResolver({
      aliases: new AliasTable([{ alias: "site.burrow.test", aliasAddress: "127.0.0.9" }]),
      exchange: () => Promise.reject(new Error("no upstream")),
    }),
  });
  const hub = await FakeHub.start({ clients: { "agent-1": SECRET } });
  const site = { ...fakeSite(10, "Site A", 0), endpoint: "site.burrow.test:51820" };
  hub.sites = [site];
  const tunnels = fakeTunnels();
  const views: TunnelView[] = [];
  const handled: string[] = [];
  let closing = 0;
  const extension: SessionExtension = {
    peersChanged: (view) => Promise.resolve(void views.push({ ...view, sites: [...view.sites] })),
    handle: (frame) =>
      Promise.resolve(frame.type === "burrow/test/mine" && !!handled.push(frame.type)),
    tunnelClosing: () => Promise.resolve(void closing++),
  };
  const session = new Session({
    params: {
      endpoint: hub.endpoint,
      id: "agent-1",
      secret: SECRET,
      mtu: 1280,
      interfaceName: "bhooks0",
      holepunch: false,
      pingIntervalMs: 100,
      pingTimeoutMs: 1000,
      dns: `127.0.0.1:${dns.port}`,
    },
    privateKey: generatePrivateKey(),
    tunnels,
    log: new Logger({ level: "error", write: () => {} }),
    timing: { backoffBaseMs: 50, backoffCapMs: 200, registerRetryMs: 200 },
    extensions: [extension],
    resolveHost: resolverVia(`127.0.0.1:${dns.port}`),
  });
  try {
    session.start();
    await waitFor("registration", () => session.registered, 30_000);
    const peer = [...tunnels.made[0].peerMap.values()][0];
    assertEquals(peer.endpoint, "127.0.0.9:51820", "resolved through the given server");
    assertEquals(views.length, 1);
    assertEquals(views[0].utilitySubnet, "100.96.128.0/20");
    assertEquals(views[0].sites.map((s) => s.siteId), [10]);
    hub.send(MSG.peerAdd, { ...fakeSite(11, "Site B", 0), publicKey: btoa("B".repeat(32)) });
    await waitFor("the peer add seen", () => views.length === 2, 30_000);
    assertEquals(views[1].sites.map((s) => s.siteId), [10, 11]);
    hub.send("burrow/test/mine", {});
    await waitFor("the extension's message", () => handled.length === 1, 30_000);
  } finally {
    await session.stop();
    await hub.stop();
    await dns.close();
  }
  assertEquals(closing, 1, "told once before the tunnel closed");
});
