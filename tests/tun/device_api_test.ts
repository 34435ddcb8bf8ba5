// The in-process device API the agent and hub use (createDevice, setPeer, peers, removePeer,
// addAddress, addRoute, close), driven inside a namespace against wireguard-go.

import { assert, assertEquals } from "../_support/assert.ts";
import { linkNamespaces, Netns, netnsTest, stopProcess, uniqueSuffix } from "../_support/netns.ts";
import {
  exists,
  keyPair,
  pingUntilAnswered,
  type Side,
  socketPath,
  startImplementation,
} from "./_wg_pair.ts";
import { startLineScript } from "./_line_script.ts";

Deno.test(
  netnsTest("createDevice() carries traffic to wireguard-go and reports its peer", async () => {
    const dir = await Deno.makeTempDir({ prefix: "bwgd" });
    const nsA = await Netns.create("bwg");
    const nsB = await Netns.create("bwg");
    const ifA = `bwgd${uniqueSuffix()}`, ifB = `bwgg${uniqueSuffix()}`;
    let wgGo: Deno.ChildProcess | null = null;
    const driver = startLineScript(nsA.name, "_device_driver.ts", ["-A"]);
    const nextLine = async (): Promise<unknown> => JSON.parse(await driver.nextLine());
    const call = async (line: string) => {
      const result = JSON.parse(await driver.ask(line)) as Record<string, unknown>;
      if (result && typeof result === "object" && "error" in result) {
        throw new Error(String(result.error));
      }
      return result;
    };
    try {
      await linkNamespaces(nsA, nsB, ["10.75.0.1/24"], ["10.75.0.2/24"]);
      const keysA = await keyPair(dir), keysB = await keyPair(dir);
      wgGo = await startImplementation("wireguard-go", nsB, ifB);
      const b = { ns: nsB, ifname: ifB } as Side;
      await nsB.exec([
        "wg",
        "set",
        ifB,
        "private-key",
        keysB.file,
        "listen-port",
        "51902",
        "peer",
        keysA.publicKey,
        "allowed-ips",
        "10.76.0.1/32",
        "endpoint",
        "10.75.0.1:51901",
      ]);
      await nsB.exec(["ip", "addr", "add", "10.76.0.2/24", "dev", ifB]);
      await nsB.exec(["ip", "link", "set", ifB, "up"]);

      const created = await call(`create ${ifA} 51901 ${keysA.privateKey}`);
      assertEquals(created, { name: ifA, publicKey: keysA.publicKey, port: 51901 });
      assert(exists(socketPath(ifA)), "the UAPI socket is served by default");
      await call("address 10.76.0.1/32");
      await call("route 10.76.0.0/24");
      await call(`peer ${
        JSON.stringify({
          publicKey: keysB.publicKey,
          endpoint: "10.75.0.2:51902",
          allowedIps: ["10.76.0.2/32"],
          persistentKeepaliveS: 25,
        })
      }`);
      await pingUntilAnswered({ ns: nsA } as Side, "10.76.0.2");
      await pingUntilAnswered(b, "10.76.0.1");
      const peers = await call("peers") as unknown as Array<Record<string, unknown>>;
      assertEquals(peers.length, 1);
      assertEquals(peers[0].publicKey, keysB.publicKey);
      assertEquals(peers[0].endpoint, "10.75.0.2:51902");
      assertEquals(peers[0].allowedIps, ["10.76.0.2/32"]);
      assert(Number(peers[0].rxBytes) > 0 && Number(peers[0].txBytes) > 0, "counters move");
      assert(Math.abs(Date.now() - Number(peers[0].lastHandshakeMs)) < 60_000, "recent handshake");

      // The hub's probe: PANGOLIN_TEST_REQ + 8 bytes is answered on the WireGuard port.
      const probe = await nsB.exec([
        "bash",
        "-c",
        "printf 'PANGOLIN_TEST_REQ12345678' | socat -t 2 - UDP:10.75.0.1:51901",
      ]);
      assertEquals(probe.stdout, "PANGOLIN_TEST_RSP12345678");

      await call(`remove ${keysB.publicKey}`);
      assertEquals(await call("peers"), [] as unknown as Record<string, unknown>);
      // close() answers and `closed` resolves, in either order.
      const closing = [await call("close"), await nextLine()].map((line) => JSON.stringify(line));
      assertEquals(closing.sort(), ['{"event":"closed"}', '{"ok":true}']);
      assert(!exists(socketPath(ifA)), "close() removes the socket");
      const link = await nsA.exec(["ip", "link", "show", ifA], { check: false });
      assert(link.code !== 0, "close() removes the interface");
    } finally {
      await driver.stop();
      if (wgGo) await stopProcess(wgGo);
      await Deno.remove(socketPath(ifA)).catch(() => {});
      await Deno.remove(socketPath(ifB)).catch(() => {});
      await nsA.destroy();
      await nsB.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  }),
);
