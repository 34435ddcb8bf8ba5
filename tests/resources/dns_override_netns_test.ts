// --override-dns without systemd-resolved: /etc/resolv.conf (inside the agent's namespace,
// where `ip netns exec` mounts /etc/netns/NAME/resolv.conf) names the DNS proxy while connected,
// gets its original back on /disconnect, and is repaired by the next start after a crash.
// With systemd-resolved (this machine has none): a `resolvectl` the test writes first on the
// agent's PATH answers `status` and records every call, so the test checks the exact split-DNS
// calls on connect and on new aliases, the revert on /disconnect and after a crash.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import {
  hubEndpoint,
  loginFlags,
  startAgent,
  unixSocketApi,
  waitForAgentStatus,
} from "../_support/burrow.ts";
import { netnsTest, stopProcess, waitFor } from "../_support/netns.ts";
import {
  DnsOverride,
  overriddenResolvConf,
  RESOLVED_LINK_FILE,
  routingDomains,
} from "../../src/agent/dns_override.ts";
import { buildTopology, HUB_IP, hubResource, LAN } from "./_topology.ts";

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

Deno.test("dns override: resolvectl refusing the domains leaves nothing half-applied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bdo-unit-" });
  try {
    const calls: string[] = [];
    const override = new DnsOverride({
      stateDir: dir,
      resolvConf: `${dir}/resolv.conf`,
      resolved: () => Promise.resolve(true),
      run: (argv) => {
        calls.push(argv.join(" "));
        const refused = argv[1] === "domain";
        return Promise.resolve({ code: refused ? 1 : 0, stderr: refused ? "no" : "" });
      },
    });
    let error = "";
    await override.apply("100.96.128.1", "olm0", ["a.lab"]).catch((e) => error = e.message);
    assertEquals(error, "resolvectl refused: no");
    assertEquals(calls, [
      "resolvectl dns olm0 100.96.128.1",
      "resolvectl domain olm0 ~a.lab",
      "resolvectl revert olm0",
    ]);
    assertEquals([...Deno.readDirSync(dir)], [], "no state left to repair");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A fake `resolvectl` in a new directory: it appends its arguments to `calls.log` there, one
 * call a line, and succeeds (so `resolvectl status` says systemd-resolved runs).
 */
async function fakeResolvectl(dir: string): Promise<{ bin: string; calls(): Promise<string[]> }> {
  const bin = `${dir}/fake-bin`;
  const log = `${dir}/calls.log`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(`${bin}/resolvectl`, `#!/bin/sh\necho "$*" >> '${log}'\nexit 0\n`, {
    mode: 0o755,
  });
  return {
    bin,
    calls: async () => (await Deno.readTextFile(log).catch(() => "")).split("\n").filter(Boolean),
  };
}

Deno.test(
  netnsTest(
    "--override-dns with systemd-resolved: split DNS on the interface, reverted, repaired",
    async () => {
      const topo = await buildTopology("bdr");
      const agents: Deno.ChildProcess[] = [];
      const etcDirs: string[] = [];
      try {
        const siteNs = await topo.addHost("bdr-site", "10.79.0.2");
        const ns = await topo.addHost("bdr-ag", "10.79.0.5");
        await topo.attachLan(siteNs);
        // The file mode must not run: the namespace's own resolv.conf shows it if it did.
        const etc = `/etc/netns/${ns.name}`;
        await Deno.mkdir(etc, { recursive: true });
        etcDirs.push(etc);
        await Deno.writeTextFile(`${etc}/resolv.conf`, ORIGINAL);
        const resolvectl = await fakeResolvectl(topo.dir);

        const endpoint = hubEndpoint(HUB_IP);
        const site = await topo.addClient("resolved-site");
        const client = await topo.addClient("resolved-user");
        const siteSocket = `${topo.dir}/site.sock`;
        agents.push(startAgent(siteNs, {
          stateDir: `${topo.dir}/site`,
          socket: siteSocket,
          interface: `bdrs${topo.suffix}`,
          args: loginFlags(endpoint, site),
        }));
        await waitForAgentStatus(
          siteSocket,
          "the site",
          (s: { registered: boolean }) => s.registered,
        );
        const addResource = (destination: string, alias: string) =>
          hubResource(topo, [
            "add",
            ...["--site", site.id, "--destination", destination, "--alias", alias],
            ...["--access", client.id],
          ]);
        await addResource(LAN.web, "web.lab.internal");

        const ifname = `bdrc${topo.suffix}`;
        const stateDir = `${topo.dir}/client`;
        const socket = `${topo.dir}/client.sock`;
        const launch = () => {
          const agent = startAgent(ns, {
            stateDir,
            socket,
            interface: ifname,
            args: [...loginFlags(endpoint, client), "--override-dns"],
            env: { PATH: `${resolvectl.bin}:${Deno.env.get("PATH")}` },
          });
          agents.push(agent);
          return agent;
        };
        let agent = launch();
        const callsAfter = async (from: number) => (await resolvectl.calls()).slice(from);
        const waitForCall = (call: string, from = 0) =>
          waitFor(
            `resolvectl ${call}`,
            async () => (await callsAfter(from)).includes(call),
            30_000,
            200,
          );

        // Connect: the proxy's address on the tunnel interface, the aliases' domains routed.
        await waitForCall(`domain ${ifname} ~web.lab.internal`);
        assertEquals(await resolvectl.calls(), [
          "status",
          `dns ${ifname} 100.96.128.1`,
          `domain ${ifname} ~web.lab.internal`,
        ]);
        assertEquals((await Deno.readTextFile(`${stateDir}/${RESOLVED_LINK_FILE}`)).trim(), ifname);

        // A new alias (a wildcard) while connected: the domains are set again, once.
        let mark = (await resolvectl.calls()).length;
        await addResource(LAN.other, "*.db.internal");
        await waitForCall(`domain ${ifname} ~db.internal ~web.lab.internal`, mark);
        await new Promise((resolve) => setTimeout(resolve, 1500)); // repeated pushes change nothing
        assertEquals(await callsAfter(mark), [`domain ${ifname} ~db.internal ~web.lab.internal`]);

        // Disconnect: the interface's settings are reverted; nothing is left to repair.
        const api = unixSocketApi(socket);
        mark = (await resolvectl.calls()).length;
        assertEquals((await api("POST", "/disconnect")).status, 200);
        await waitForCall(`revert ${ifname}`, mark);
        assertEquals(await callsAfter(mark), [`revert ${ifname}`]);
        await Deno.stat(`${stateDir}/${RESOLVED_LINK_FILE}`).then(
          () => assert(false, "the note of the interface is removed on disconnect"),
          () => {},
        );

        // Connected again, then killed: the note stays; the next start reverts before anything.
        await api("POST", "/connect", { id: client.id, secret: client.secret, endpoint });
        mark = (await resolvectl.calls()).length;
        await waitForCall(`dns ${ifname} 100.96.128.1`, mark);
        await waitForCall(`domain ${ifname} ~db.internal ~web.lab.internal`, mark);
        agent.kill("SIGKILL");
        await agent.status;
        assertEquals((await Deno.readTextFile(`${stateDir}/${RESOLVED_LINK_FILE}`)).trim(), ifname);
        // With the hub gone the agent cannot connect again: only the repair calls resolvectl.
        await stopProcess(topo.hub!);
        topo.hub = undefined;
        mark = (await resolvectl.calls()).length;
        agent = launch();
        await waitForCall(`revert ${ifname}`, mark);
        assertEquals((await callsAfter(mark))[0], `revert ${ifname}`);
        await waitFor(
          "the note removed by the repair",
          () => Deno.stat(`${stateDir}/${RESOLVED_LINK_FILE}`).then(() => false, () => true),
        );
        assertEquals((await ns.exec(["cat", "/etc/resolv.conf"])).stdout, ORIGINAL);
      } finally {
        for (const agent of agents) await stopProcess(agent);
        await topo.close();
        for (const etc of etcDirs) await Deno.remove(etc, { recursive: true }).catch(() => {});
      }
    },
  ),
);
