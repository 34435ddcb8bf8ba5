// Engine Worker: starts on its config message, answers get/apply, and exits on shutdown.

import { assertEquals } from "../_support/assert.ts";
import { Doorbell, PacketRing } from "../../src/tun/pool.ts";
import type { EngineReport, EngineRequest } from "../../src/tun/protocol.ts";
import { closeUdpSockets, openUdpSockets, type UdpSockets } from "../../src/tun/udp.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/crypto/keys.ts";
import { nextReport, startWorker } from "./_worker.ts";

const next = (worker: Worker, type: EngineReport["type"]) => nextReport<EngineReport>(worker, type);

/** "start" for an engine without a TUN, on `sockets` with small rings. */
function startMessage(sockets: UdpSockets, privateKey: Uint8Array): EngineRequest {
  return {
    type: "start",
    config: {
      tunFd: -1,
      mtu: 1420,
      tunRing: PacketRing.create(8, 2048).buffer,
      bell: new Doorbell().buffer,
      sockets: { ...sockets, ring4: PacketRing.create(8, 2048).buffer, ring6: null },
      privateKey,
      reportForeign: false,
    },
  };
}

Deno.test("engine worker applies a change set, reports it, and exits on shutdown", async () => {
  const sockets = openUdpSockets(0);
  const worker = startWorker("engine_worker.ts");
  try {
    const privateKey = generatePrivateKey();
    const started = next(worker, "started");
    worker.postMessage(startMessage(sockets, privateKey));
    const report = await started;
    assertEquals(report.type === "started" && report.publicKey, publicKeyOf(privateKey));
    assertEquals(report.type === "started" && report.aead, "libsodium", "the fastest AEAD");
    const peerKey = publicKeyOf(generatePrivateKey());
    const applied = next(worker, "applied");
    worker.postMessage(
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
    worker.postMessage({ type: "get", id: 2 } satisfies EngineRequest);
    const got = await snapshot;
    if (got.type !== "snapshot") throw new Error("expected a snapshot");
    assertEquals(got.snapshot.listenPort, sockets.port);
    assertEquals(got.snapshot.peers.length, 1);
    assertEquals(got.snapshot.peers[0].publicKey, peerKey);
    assertEquals(got.snapshot.peers[0].allowedIps, ["10.0.0.0/8", "fd00::/64"]);
    assertEquals(got.snapshot.peers[0].endpoint, { address: "127.0.0.1", port: 9 });
    const stopped = next(worker, "stopped");
    worker.postMessage({ type: "shutdown" } satisfies EngineRequest);
    assertEquals((await stopped).type, "stopped");
  } finally {
    worker.terminate();
    closeUdpSockets(sockets);
  }
});

Deno.test("BURROW_AEAD=noble makes the engine worker seal with the pure @noble AEAD", async () => {
  const sockets = openUdpSockets(0);
  Deno.env.set("BURROW_AEAD", "noble"); // Workers read the process environment
  const worker = startWorker("engine_worker.ts");
  try {
    const started = next(worker, "started");
    worker.postMessage(startMessage(sockets, generatePrivateKey()));
    const report = await started;
    assertEquals(report.type === "started" && report.aead, "noble");
    const stopped = next(worker, "stopped");
    worker.postMessage({ type: "shutdown" } satisfies EngineRequest);
    await stopped;
  } finally {
    Deno.env.delete("BURROW_AEAD");
    worker.terminate();
    closeUdpSockets(sockets);
  }
});
