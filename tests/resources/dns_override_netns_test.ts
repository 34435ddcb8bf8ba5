// --override-dns without systemd-resolved: /etc/resolv.conf (inside the agent's namespace,
// where `ip netns exec` mounts /etc/netns/NAME/resolv.conf) names the DNS proxy while connected,
// gets its original back on /disconnect, and is repaired by the next start after a crash.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import {
  hubEndpoint,
  loginFlags,
  startAgent,
  unixSocketApi,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { netnsTest, stopProcess, waitFor } from "../_support/netns.ts";
import { overriddenResolvConf, routingDomains } from "../../src/agent/dns_override.ts";
import { buildTopology, HUB_IP } from "./_topology.ts";

const ORIGINAL = "nameserver 192.0.2.53\nsearch example.test\n";

Deno.test("dns override: the file keeps search lines; resolved gets the aliases' domains", () => {
  assertEquals(
    overriddenResolvConf(ORIGINAL, "100.96.128.1").split("\n").slice(1),
    ["nameserver 100.96.128.1", "search example.test", ""],
  );
  assertEquals(routingDomains(["web.lab.internal", "*.db.internal", "Web.Lab.Internal."]), [
    "~db.internal",
    "~web.lab.internal",
  ]);
});

Deno.test(
  netnsTest(
    "--override-dns: resolv.conf names the proxy while connected; restored after",
    async () => {
      const topo = await buildTopology("bdo");
      let agent: Deno.ChildProcess | undefined;
      const etcDirs: string[] = [];
      try {
        const ns = await topo.addHost("bdo-ag", "10.79.0.5");
        const etc = `/etc/netns/${ns.name}`;
        await Deno.mkdir(etc, { recursive: true });
        etcDirs.push(etc);
        await Deno.writeTextFile(`${etc}/resolv.conf`, ORIGINAL);
        const resolvConf = async () => (await ns.exec(["cat", "/etc/resolv.conf"])).stdout;
        const credentials = await topo.addClient("dns-user");
        const socket = `${topo.dir}/agent.sock`;
        const launch = () =>
          startAgent(ns, {
            stateDir: `${topo.dir}/agent`,
            socket,
            interface: `bdo${topo.suffix}`,
            args: [...loginFlags(hubEndpoint(HUB_IP), credentials), "--override-dns"],
          });
        agent = launch();
        const overridden = () =>
          waitFor(
            "resolv.conf to name the proxy",
            async () => (await resolvConf()).includes("nameserver 100.96.128.1"),
            30_000,
            200,
          );
        await overridden();
        assertStringIncludes(await resolvConf(), "search example.test");
        assert(!(await resolvConf()).includes("192.0.2.53"));

        const api = unixSocketApi(socket);
        assertEquals((await api("POST", "/disconnect")).status, 200);
        assertEquals(await resolvConf(), ORIGINAL, "disconnect restores the original");

        // Connected again, then killed: the file stays overridden until the next start.
        await api("POST", "/connect", {
          id: credentials.id,
          secret: credentials.secret,
          endpoint: hubEndpoint(HUB_IP),
        });
        await waitForAgentStatus(
          socket,
          "registered",
          (s: { registered: boolean }) => s.registered,
        );
        await overridden();
        agent.kill("SIGKILL");
        await agent.status;
        agent = undefined;
        assertStringIncludes(await resolvConf(), "nameserver 100.96.128.1");
        // With the hub gone the agent cannot connect again, so only the repair can restore it.
        await stopProcess(topo.hub!);
        topo.hub = undefined;
        agent = launch();
        await waitFor("the repair", async () => await resolvConf() === ORIGINAL, 20_000, 200);
      } finally {
        if (agent) await stopProcess(agent);
        await topo.close();
        for (const etc of etcDirs) await Deno.remove(etc, { recursive: true }).catch(() => {});
      }
    },
  ),
);
