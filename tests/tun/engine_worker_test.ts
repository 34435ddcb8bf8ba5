// Engine Worker: starts on its config message, answers get/apply (woken by the wake eventfd the
// main thread writes after each message), reads its UDP socket itself, and exits on shutdown.

import { assertEquals } from "../_support/assert.ts";
import { PacketRing } from "../../src/tun/pool.ts";
import { openWakeFd, signalWake } from "../../src/tun/fd_source.ts";
import { closeFd } from "../../src/tun/tun.ts";
import type { EngineReport, EngineRequest } from "../../src/tun/protocol.ts";
import { closeUdpSockets, openUdpSockets, type UdpSockets } from "../../src/tun/udp.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/curve25519/mod.ts";
import { nextReport, startWorker } from "./_worker.ts";

const next = (worker: Worker, type: EngineReport["type"]) => nextReport<EngineReport>(worker, type);

/** Posts as the device does: the message, then one count on the wake eventfd. */
function post(worker: Worker, wakeFd: number, message: EngineRequest): void {
  worker.postMessage(message);
  signalWake(wakeFd);
}

/** "start" for an engine without a TUN, on `sockets` with small rings. */
function startMessage(
  sockets: UdpSockets,
  privateKey: Uint8Array,
  wakeFd: number,
  reportForeign = false,
): EngineRequest {
  return {
    type: "start",
    config: {
      tunFd: -1,
      tunOffload: "none",
      mtu: 1420,
      tunRing: PacketRing.create(8, 2048).buffer,
      wakeFd,
      sockets: { ...sockets, ring4: PacketRing.create(8, 2048).buffer, ring6: null },
      privateKey,
      reportForeign,
    },
  };
}

Deno.test("engine worker applies a change set, reports it, and exits on shutdown", async () => {
  const sockets = openUdpSockets(0);
  const worker = startWorker("engine_worker.ts");
  const wake = openWakeFd();
  try {
    const privateKey = generatePrivateKey();
    const started = next(worker, "started");
    post(worker, wake, startMessage(sockets, privateKey, wake));
    const report = await started;
    assertEquals(report.type === "started" && report.publicKey, publicKeyOf(privateKey));
    assertEquals(report.type === "started" && report.aead, "libsodium", "the fastest AEAD");
    const peerKey = publicKeyOf(generatePrivateKey());
    const applied = next(worker, "applied");
    post(
      worker,
      wake,
      {
        type: "apply",
        id: 1,
        change: {
          replacePeers: false,
          peers: [{
            publicKey: peerKey,
            remove: false,
            updateOnly: false,
            endpoint: { address: "127.0.0.1", port: 9 },
            replaceAllowedIps: true,
            allowedIps: ["10.0.0.0/8", "fd00::/64"],
          }],
        },
      } satisfies EngineRequest,
    );
    assertEquals((await applied as { errno: number }).errno, 0);
    const snapshot = next(worker, "snapshot");
    post(worker, wake, { type: "get", id: 2 });
    const got = await snapshot;
    if (got.type !== "snapshot") throw new Error("expected a snapshot");
    assertEquals(got.snapshot.listenPort, sockets.port);
    assertEquals(got.snapshot.peers.length, 1);
    assertEquals(got.snapshot.peers[0].publicKey, peerKey);
    assertEquals(got.snapshot.peers[0].allowedIps, ["10.0.0.0/8", "fd00::/64"]);
    assertEquals(got.snapshot.peers[0].endpoint, { address: "127.0.0.1", port: 9 });
    const stopped = next(worker, "stopped");
    post(worker, wake, { type: "shutdown" });
    assertEquals((await stopped).type, "stopped");
  } finally {
    worker.terminate();
    closeUdpSockets(sockets);
    closeFd(wake);
  }
});

Deno.test("BURROW_AEAD=noble makes the engine worker seal with the pure @noble AEAD", async () => {
  const sockets = openUdpSockets(0);
  Deno.env.set("BURROW_AEAD", "noble"); // Workers read the process environment
  const worker = startWorker("engine_worker.ts");
  const wake = openWakeFd();
  try {
    const started = next(worker, "started");
    post(worker, wake, startMessage(sockets, generatePrivateKey(), wake));
    const report = await started;
    assertEquals(report.type === "started" && report.aead, "noble");
    const stopped = next(worker, "stopped");
    post(worker, wake, { type: "shutdown" });
    await stopped;
  } finally {
    Deno.env.delete("BURROW_AEAD");
    worker.terminate();
    closeUdpSockets(sockets);
    closeFd(wake);
  }
});

Deno.test("engine worker reads its UDP socket itself: a foreign datagram comes back as a report", async () => {
  const sockets = openUdpSockets(0);
  const worker = startWorker("engine_worker.ts");
  const wake = openWakeFd();
  const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const started = next(worker, "started");
    post(worker, wake, startMessage(sockets, generatePrivateKey(), wake, true));
    await started;
    const foreign = next(worker, "foreign");
    const payload = new TextEncoder().encode("STUN-ish: not a WireGuard message");
    await sender.send(payload, { transport: "udp", hostname: "127.0.0.1", port: sockets.port });
    const report = await foreign;
    if (report.type !== "foreign") throw new Error("expected a foreign report");
    assertEquals(report.data, payload);
    const from = sender.addr as Deno.NetAddr;
    assertEquals(report.from, `127.0.0.1:${from.port}`);
    const stopped = next(worker, "stopped");
    post(worker, wake, { type: "shutdown" });
    await stopped;
  } finally {
    sender.close();
    worker.terminate();
    closeUdpSockets(sockets);
    closeFd(wake);
  }
});
