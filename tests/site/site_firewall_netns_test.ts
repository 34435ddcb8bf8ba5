// The site's kernel rules on a real kernel, without WireGuard: a "client" namespace joined to
// the site by a veth standing in for the tunnel interface, a LAN namespace behind the site with
// no route back. The granted host answers (masqueraded); another LAN host, the site's own LAN
// address and the unlisted rest do not; close() removes the table and restores forwarding.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { linkNamespaces, NetnsGroup, netnsTest } from "../_support/netns.ts";
import { SiteFirewall } from "../../src/site/site_firewall.ts";
import { siteRuleset, siteTableName } from "../../src/site/site_rules.ts";
import { clientAllowedIps, type CommandRunner, tunnelIpv6Of } from "../../src/site/mod.ts";

Deno.test("site rules: one table, grants per client, masquerade, probe port, drops", () => {
  const script = siteRuleset({
    interfaceName: "olm.1",
    tunnelIP: "100.89.128.2",
    probePort: 51821,
    grants: [
      { tunnelIP: "100.89.128.5", destinations: ["10.20.0.5/32", "10.30.0.9/24", "fd00::1/128"] },
    ],
  });
  assertEquals(siteTableName("olm.1"), "burrow_site_olm_1");
  assertStringIncludes(script, "delete table inet burrow_site_olm_1");
  assertStringIncludes(script, "ip saddr 100.89.128.5 ip daddr 10.20.0.5/32 accept");
  assertStringIncludes(script, "ip saddr 100.89.128.5 ip daddr 10.30.0.0/24 accept");
  assertStringIncludes(script, "ip daddr 100.89.128.2 udp dport 51821 accept");
  assertStringIncludes(script, "ip saddr { 100.89.128.5 } drop");
  assertStringIncludes(script, 'oifname != "olm.1" masquerade');
  // IPv6: the client's derived address (src/site/tunnel_ipv6.ts), granted and masqueraded.
  const v6 = "fd62:7572:726f::6459:8005";
  assertStringIncludes(script, `ip6 saddr ${v6} ip6 daddr fd00::1/128 accept`);
  assertStringIncludes(script, `ip6 saddr { ${v6} } drop`);
  assertStringIncludes(
    script,
    `ip6 saddr ${v6} ip6 daddr fd00::1/128 oifname != "olm.1" masquerade`,
  );
  // A client granted only IPv4 gets no IPv6 line at all.
  const v4Only = siteRuleset({
    interfaceName: "olm.1",
    tunnelIP: "100.89.128.2",
    probePort: 51821,
    grants: [{ tunnelIP: "100.89.128.5", destinations: ["10.20.0.5/32"] }],
  });
  assert(!v4Only.includes("ip6"), v4Only);
});

Deno.test("tunnel IPv6: derived from the IPv4 tunnel address; allowed only with an IPv6 grant", () => {
  assertEquals(tunnelIpv6Of("100.89.128.3"), "fd62:7572:726f::6459:8003");
  assertEquals(tunnelIpv6Of("100.89.128.3/20"), "fd62:7572:726f::6459:8003");
  assertEquals(tunnelIpv6Of("fd00::1"), null);
  assertEquals(tunnelIpv6Of("nonsense"), null);
  assertEquals(clientAllowedIps({ tunnelIP: "100.89.128.3", destinations: ["10.0.0.0/8"] }), [
    "100.89.128.3/32",
  ]);
  assertEquals(
    clientAllowedIps({ tunnelIP: "100.89.128.3", destinations: ["10.0.0.0/8", "fd00::/64"] }),
    ["100.89.128.3/32", "fd62:7572:726f::6459:8003/128"],
  );
});

Deno.test(
  netnsTest("site firewall: only granted destinations, masqueraded; undone on close", async () => {
    const group = new NetnsGroup();
    try {
      const client = await group.create("bsf-c");
      const site = await group.create("bsf-s");
      const lan = await group.create("bsf-l");
      const { ifB: tunnelIf } = await linkNamespaces(client, site, ["100.89.128.5/20"], [
        "100.89.128.2/20",
      ]);
      await linkNamespaces(site, lan, ["10.20.0.1/24"], ["10.20.0.5/24"]);
      const lanIf = (await lan.exec(["ip", "-o", "link", "show", "type", "veth"])).stdout
        .split(":")[1].trim().split("@")[0];
      await lan.exec(["ip", "addr", "add", "10.20.0.6/24", "dev", lanIf]);
      await client.exec(["ip", "route", "add", "10.20.0.0/24", "via", "100.89.128.2"]);
      const reaches = async (address: string) =>
        (await client.exec(["ping", "-c", "1", "-W", "1", address], { check: false })).code === 0;
      const inSite: CommandRunner = async (argv, stdin) => {
        const result = await site.exec(argv, { check: false, stdin });
        return { code: result.code, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
      };
      const forwarding = async () =>
        (await site.exec(["sysctl", "-n", `net.ipv4.conf.${tunnelIf}.forwarding`])).stdout.trim();

      assertEquals(await forwarding(), "0");
      assert(!await reaches("10.20.0.5"), "no forwarding before the site applies its rules");
      const firewall = new SiteFirewall(tunnelIf, inSite);
      await firewall.apply({
        tunnelIP: "100.89.128.2",
        probePort: 51821,
        grants: [{ tunnelIP: "100.89.128.5", destinations: ["10.20.0.5/32"] }],
      });
      assertEquals(await forwarding(), "1");
      assert(await reaches("10.20.0.5"), "the granted host answers (the LAN has no route back)");
      assert(!await reaches("10.20.0.6"), "another LAN host is dropped");
      assert(!await reaches("10.20.0.1"), "the site's own LAN address is dropped");
      // The grant moves: the old host is cut at once, the new one answers.
      await firewall.apply({
        tunnelIP: "100.89.128.2",
        probePort: 51821,
        grants: [{ tunnelIP: "100.89.128.5", destinations: ["10.20.0.6/32"] }],
      });
      assert(!await reaches("10.20.0.5"), "a removed grant cuts access");
      assert(await reaches("10.20.0.6"));
      await firewall.close();
      assertEquals(await forwarding(), "0", "forwarding restored");
      const tables = await site.exec(["nft", "list", "tables"]);
      assert(!tables.stdout.includes("burrow_site"), tables.stdout);
    } finally {
      await group.destroy();
    }
  }),
);
