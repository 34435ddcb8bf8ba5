// `burrow wg IFNAME` life cycle, like wireguard-go: detaches once ready; exits on SIGTERM, on
// `ip link del`, and when its UAPI socket is removed, cleaning up the interface and the socket.

import { assert, assertEquals } from "../_support/assert.ts";
import { Netns, netnsTest, run, uniqueSuffix, waitFor } from "../_support/netns.ts";
import { BURROW, exists, pidsOf, processAlive as alive, socketPath } from "./_wg_pair.ts";

async function linkPresent(ns: Netns, ifname: string): Promise<boolean> {
  return (await ns.exec(["ip", "link", "show", ifname], { check: false })).code === 0;
}

/** Starts `burrow wg IFNAME` (detaching) in a fresh namespace; returns the daemon's pid. */
async function startDetached(ns: Netns, ifname: string): Promise<number> {
  const started = await ns.exec([BURROW, "wg", ifname], { check: false });
  assertEquals(started.code, 0, `burrow wg exited ${started.code}: ${started.stderr}`);
  // Once the parent returned, the interface and the socket are there already.
  assert(exists(socketPath(ifname)), "the UAPI socket exists when burrow wg returns");
  assert(await linkPresent(ns, ifname), "the interface exists when burrow wg returns");
  const mode = Deno.statSync(socketPath(ifname)).mode! & 0o777;
  assertEquals(mode, 0o700, "socket created under umask 077");
  assertEquals(Deno.statSync("/var/run/wireguard").mode! & 0o777, 0o755);
  const pids = await pidsOf(`main.ts wg --foreground .*${ifname}`);
  assertEquals(pids.length, 1, "one daemon runs");
  return pids[0];
}

async function withDaemon(
  action: (ns: Netns, ifname: string, pid: number) => Promise<void>,
): Promise<void> {
  const ns = await Netns.create("bwg");
  const ifname = `bwgl${uniqueSuffix()}`;
  let pid = 0;
  try {
    pid = await startDetached(ns, ifname);
    await action(ns, ifname, pid);
    await waitFor("the daemon to exit", () => !alive(pid), 10_000);
    await waitFor("the socket to go", () => !exists(socketPath(ifname)), 5_000);
    assert(!(await linkPresent(ns, ifname)), "the interface is gone");
  } finally {
    if (pid && alive(pid)) Deno.kill(pid, "SIGKILL");
    await Deno.remove(socketPath(ifname)).catch(() => {});
    await ns.destroy();
  }
}

Deno.test(netnsTest("burrow wg detaches, then exits on SIGTERM removing what it made", async () => {
  await withDaemon((_ns, _ifname, pid) => {
    Deno.kill(pid, "SIGTERM");
    return Promise.resolve();
  });
}));

Deno.test(netnsTest("burrow wg exits when its interface is deleted", async () => {
  await withDaemon(async (ns, ifname) => {
    await ns.exec(["ip", "link", "del", ifname]);
  });
}));

Deno.test(netnsTest("burrow wg exits when its UAPI socket is removed", async () => {
  await withDaemon(async (_ns, ifname) => {
    await Deno.remove(socketPath(ifname));
  });
}));

Deno.test(netnsTest("burrow wg answers wg(8); a bad command line exits 2", async () => {
  const bad = await run([BURROW, "wg", "--no-such-flag", "wg0"], { check: false });
  assertEquals(bad.code, 2);
  await withDaemon(async (ns, ifname, pid) => {
    const shown = await ns.exec(["wg", "show", ifname]);
    assert(shown.stdout.includes(`interface: ${ifname}`), shown.stdout);
    await ns.exec(["wg", "set", ifname, "listen-port", "45678"]);
    assertEquals((await ns.exec(["wg", "show", ifname, "listen-port"])).stdout.trim(), "45678");
    Deno.kill(pid, "SIGINT");
  });
}));

Deno.test(
  netnsTest("wg-quick up/down works with burrow as the userspace implementation", async () => {
    const ns = await Netns.create("bwg");
    const ifname = `bwgq${uniqueSuffix()}`;
    const dir = await Deno.makeTempDir({ prefix: "bwgq" });
    try {
      const key = (await run(["wg", "genkey"])).stdout.trim();
      const conf = `${dir}/${ifname}.conf`;
      await Deno.writeTextFile(
        conf,
        `[Interface]\nPrivateKey = ${key}\nAddress = 10.79.0.1/24\nListenPort = 51999\n\n` +
          `[Peer]\nPublicKey = ${(await run(["wg", "pubkey"], { stdin: key })).stdout.trim()}\n` +
          `AllowedIPs = 10.79.0.2/32\n`,
      );
      const env = [
        "env",
        `WG_QUICK_USERSPACE_IMPLEMENTATION=${BURROW.replace(/burrow$/, "tools/burrow-wg")}`,
        "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
      ];
      const up = await ns.exec([...env, "wg-quick", "up", conf], { check: false });
      assertEquals(up.code, 0, up.stderr);
      const shown = await ns.exec(["wg", "show", ifname, "listen-port"]);
      assertEquals(shown.stdout.trim(), "51999");
      const address = await ns.exec(["ip", "-4", "addr", "show", ifname]);
      assert(address.stdout.includes("10.79.0.1/24"), address.stdout);
      const down = await ns.exec([...env, "wg-quick", "down", conf], { check: false });
      assertEquals(down.code, 0, down.stderr);
      await waitFor("the socket to go", () => !exists(socketPath(ifname)), 10_000);
    } finally {
      for (const pid of await pidsOf(`wg --foreground .*${ifname}`)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(socketPath(ifname)).catch(() => {});
      await Deno.remove(dir, { recursive: true });
      await ns.destroy();
    }
  }),
);
