// `burrow wg` as a drop-in for wireguard-go (issue #12): its environment (LOG_LEVEL, WG_PROCESS_
// FOREGROUND, WG_TUN_FD, WG_UAPI_FD, --version, exit codes), the birthplace namespace (the
// interface moved away, the process and its sockets staying home, exit when the interface is
// deleted there) and the MTU followed at run time up to about 35,000 bytes over both outer families.

import { assert, assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { Netns, netnsTest, run, stopProcess, uniqueSuffix, waitFor } from "../_support/netns.ts";
import { BURROW, exists, processAlive as alive, socketPath } from "./_wg_pair.ts";
import { endpointText, pingOnce, withBirthplace } from "./_birthplace.ts";

Deno.test(netnsTest("burrow wg: --version, exit codes and LOG_LEVEL as wireguard-go", async () => {
  const version = await run([BURROW, "wg", "--version"]);
  assertStringIncludes(version.stdout, "burrow wg v");
  // Setup failed is 1, as wireguard-go's ExitSetupFailed (a name the kernel refuses).
  const bad = await run([BURROW, "wg", "this-name-is-too-long"], { check: false });
  assertEquals(bad.code, 1, bad.stderr);
  for (const level of ["verbose", "error", "silent", "debug", "info"]) {
    const help = await run(["env", `LOG_LEVEL=${level}`, BURROW, "wg", "--help"], { check: false });
    assertEquals(help.code, 0, `LOG_LEVEL=${level}: ${help.stderr}`);
  }
  // A TUN descriptor that is not one: setup failed, nothing left behind.
  const ns = await Netns.create("bwgv");
  try {
    const ifname = `bwv${uniqueSuffix()}`;
    const failed = await ns.exec(["env", "WG_TUN_FD=0", "LOG_LEVEL=silent", BURROW, "wg", ifname], {
      check: false,
    });
    assertEquals(failed.code, 1);
    assertEquals(failed.stderr.trim(), "", "LOG_LEVEL=silent prints nothing");
    const verbose = await ns.exec(
      ["env", "WG_TUN_FD=0", "LOG_LEVEL=verbose", BURROW, "wg", "-f", ifname],
      { check: false },
    );
    assertEquals(verbose.code, 1);
    assertStringIncludes(verbose.stderr, "cannot create the device");
  } finally {
    await ns.destroy();
  }
}));

Deno.test(
  netnsTest("burrow wg: WG_PROCESS_FOREGROUND=1, WG_TUN_FD and WG_UAPI_FD inherited", async () => {
    const ns = await Netns.create("bwgf");
    const ifname = `bwf${uniqueSuffix()}`;
    // The parent's part, as wireguard-go's daemonizing parent does it: open the TUN and listen on
    // the UAPI socket, then hand both descriptors down (not close-on-exec) through the env.
    const opener = `
      import { openTunInherited, listenUnixInherited } from "${
      new URL("./_inherit_fds.ts", import.meta.url).pathname
    }";
      const tun = openTunInherited(Deno.args[0]);
      const uapi = listenUnixInherited(Deno.args[1]);
      const child = new Deno.Command(Deno.args[2], {
        args: ["wg", "bogus-name"],
        env: { WG_PROCESS_FOREGROUND: "1", WG_TUN_FD: String(tun), WG_UAPI_FD: String(uapi) },
        stdout: "inherit", stderr: "inherit",
      }).spawn();
      Deno.exit((await child.status).code);
    `;
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    await Deno.writeTextFile(script, opener);
    const deno = new URL("../../.tools/bin/deno", import.meta.url).pathname;
    const child = ns.spawn([
      deno,
      "run",
      "--allow-all",
      script,
      ifname,
      socketPath(ifname),
      BURROW,
    ], { stderr: "piped" });
    try {
      await waitFor(
        "the device to answer wg(8)",
        async () => {
          const shown = await ns.exec(["wg", "show", ifname], { check: false });
          return shown.code === 0 && shown.stdout.includes(`interface: ${ifname}`);
        },
        20_000,
        200,
      );
      await ns.exec(["wg", "set", ifname, "listen-port", "45679"]);
      assertEquals((await ns.exec(["wg", "show", ifname, "listen-port"])).stdout.trim(), "45679");
      // Foreground: the process that was started is the device (it did not detach).
      await ns.exec(["ip", "link", "del", ifname]);
      const status = await child.status;
      assertEquals(status.code, 0, "exits 0 once its interface is deleted");
      assert(!exists(socketPath(ifname)), "removes the socket it served");
    } finally {
      await stopProcess(child);
      await Deno.remove(script);
      await Deno.remove(socketPath(ifname)).catch(() => {});
      await ns.destroy();
    }
  }),
);

Deno.test(
  netnsTest(
    "birthplace: the interface moves to another namespace; process, UDP and UAPI stay and work; " +
      "deleting it there ends the process (Debian's wireguard-go as the peer)",
    async () => {
      await withBirthplace("wireguard-go", async (b) => {
        const { one, two } = b;
        const pid = (await run(["pgrep", "-f", `wg -f ${one.ifname}`])).stdout.trim().split(/\s+/)
          .map(Number).find((p) => p !== Deno.pid)!;
        // Longer than the device's once-a-second look at its interface: it must not take the move
        // for a deletion.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert(alive(pid), "burrow outlives the move of its interface");
        await pingOnce(one.ns, two.inner4);
        await pingOnce(two.ns, one.inner6);
        // Still configured from the birthplace, where its UAPI socket is.
        assertStringIncludes(
          await b.wg(["show", one.ifname, "endpoints"]),
          `127.0.0.1:${two.port}`,
        );
        const udp = await b.ns0.exec(["ss", "-uanH", `sport = ${one.port}`]);
        assert(udp.stdout.trim() !== "", "the UDP socket is in the birthplace namespace");
        const here = await run(["ip", "link", "show", one.ifname], { check: false });
        assert(here.code !== 0, "the interface is not in the test's own namespace");
        await one.ns.exec(["ip", "link", "del", one.ifname]);
        await waitFor("burrow to exit", () => !alive(pid), 10_000);
        await waitFor("its socket to go", () => !exists(socketPath(one.ifname)), 5_000);
      });
    },
  ),
);

/** Pings `count` packets of `size` bytes (the whole IP packet) with DF set, so none is split. */
async function pingWhole(ns: Netns, address: string, size: number): Promise<void> {
  const header = address.includes(":") ? 48 : 28;
  const result = await ns.exec(
    ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", String(size - header), address],
    { check: false },
  );
  assertEquals(result.code, 0, `${size}-byte packets to ${address}: ${result.stdout}`);
  assertStringIncludes(result.stdout, `${size - header + 8} bytes from`);
}

Deno.test(
  netnsTest(
    "MTU: ip link set mtu 34736 at run time and back to 1420; packets of that size pass whole " +
      "both ways over outer IPv4 and IPv6, interfaces moved away from the birthplace",
    async () => {
      await withBirthplace("wireguard-go", async (b) => {
        const { one, two } = b;
        const big = 34816 - 1500 + 1420; // the selftest's big_mtu
        for (const host of ["127.0.0.1", "::1"] as const) {
          await b.outer(host);
          assertStringIncludes(
            await b.wg(["show", one.ifname, "endpoints"]),
            endpointText(host, two.port),
          );
          await pingOnce(one.ns, two.inner4);
          for (const m of [one, two]) {
            await m.ns.exec(["ip", "link", "set", "dev", m.ifname, "mtu", String(big)]);
          }
          // The device follows the interface's MTU (it asks the descriptor every second).
          await new Promise((resolve) => setTimeout(resolve, 1200));
          for (const [from, to] of [[one, two], [two, one]] as const) {
            await pingWhole(from.ns, to.inner4, big);
            await pingWhole(from.ns, to.inner6, big);
          }
          for (const m of [one, two]) {
            await m.ns.exec(["ip", "link", "set", "dev", m.ifname, "mtu", "1420"]);
          }
          await pingWhole(one.ns, two.inner4, 1420);
          await pingWhole(two.ns, one.inner6, 1420);
        }
      });
    },
  ),
);
