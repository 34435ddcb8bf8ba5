// Issue #13 item 12: `/status` reports no connected peer once the tunnel is down: after
// `tun/shutdown`, and after the hub removed the client (olm/terminate).
import { assertEquals } from "../_support/assert.ts";
import { waitFor } from "../_support/netns.ts";
import { MSG } from "../../src/protocol/control.ts";
import { P, withAgent } from "./_agent_fixture.ts";

type Peers = Record<string, { connected: boolean; rtt: number }>;

Deno.test("/status: peers are not connected after tun/shutdown or a removal at the hub", async () => {
  await withAgent(async ({ hub, agent, call }) => {
    const peers = async () => ((await call("GET", "/status")).json as { peers: Peers }).peers;
    await waitFor("a measured peer", async () => (await peers())["10"]?.connected === true);
    assertEquals((await call("GET", `${P}tun/shutdown`)).status, 200);
    assertEquals((await peers())["10"]?.connected ?? false, false);

    assertEquals((await call("GET", `${P}tun/start`)).status, 200);
    await waitFor("a measured peer again", async () => (await peers())["10"]?.connected === true);
    hub.send(MSG.terminate, { code: "client_removed", message: "this client was removed" });
    await waitFor("terminated", () => agent.status().terminated);
    const status = (await call("GET", "/status")).json as { peers: Peers; connected: boolean };
    assertEquals(status.connected, false);
    assertEquals(status.peers["10"]?.connected ?? false, false);
  });
});
