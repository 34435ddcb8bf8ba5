// A minimal agent for hub tests, run inside an agent namespace: logs in, keeps the WebSocket
// (reconnecting like a real agent until terminated), brings up a WireGuard device (wireguard-go,
// or burrow's own with FAKE_AGENT_WG_DEVICE=burrow) with the tunnel address the hub hands out,
// and serves PROXY-aware echo/HTTP/TLS on that address.
// Driven by JSON lines on stdin; reports JSON lines on stdout.
//
//   deno run -A _fake_agent.ts ENDPOINT ID SECRET IFNAME NAME CERT_FILE KEY_FILE [bare]

import { createWireguardGoDevice } from "../../src/hub/wireguard_go_device.ts";
import {
  generatePrivateKey,
  keyFromBase64,
  keyToBase64,
  publicKeyOf,
} from "../../src/curve25519/mod.ts";
import { createDevice, type Device } from "../../src/tun/mod.ts";
import type { ConnectMessage, Frame } from "../../src/protocol/control.ts";
import { frameDatagram, PortMapRefused, readDatagrams } from "../../src/protocol/mod.ts";
import { dialPortMap } from "../../src/rules/portmap_dialer.ts";
import dgram from "node:dgram";
import { readLines } from "../_support/lines.ts";
import {
  type AgentServer,
  startEchoServer,
  startForwarder,
  startHttpServer,
  startTlsSite,
} from "./_agent_servers.ts";

const [endpoint, id, secret, ifname, name, certFile, keyFile, mode] = Deno.args;
// "bare": no HTTP/TLS sites of its own, only what "forward" commands set up (benchmark).
const bare = mode === "bare";
const privateKey = generatePrivateKey();
const publicKey = keyToBase64(publicKeyOf(privateKey));
const cert = await Deno.readTextFile(certFile);
const key = await Deno.readTextFile(keyFile);

let device = null as Device | null;
let socket = null as WebSocket | null;
let terminated = false;
let tunnelIP = "";
let serverIP = "";
let serverPort = 0;
let lastSite = null as ConnectMessage["sites"][number] | null;
const servers: AgentServer[] = [];

function emit(event: Record<string, unknown>): void {
  console.log(JSON.stringify(event));
}

async function connectOnce(): Promise<void> {
  const login = await fetch(`${endpoint}/api/v1/auth/olm/get-token`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-CSRF-Token": "x-csrf-protection" },
    body: JSON.stringify({ olmId: id, secret }),
  });
  const body = await login.json();
  if (login.status !== 200) throw new Error(`login ${login.status}`);
  const ws = new WebSocket(
    `${endpoint.replace(/^http/, "ws")}/api/v1/ws?token=${body.data.token}&clientType=olm`,
  );
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("ws failed"));
  });
  socket = ws;
  ws.onmessage = (event) =>
    onFrame(JSON.parse(event.data as string)).catch((error) =>
      emit({ event: "failure", message: String(error) })
    );
  ws.onclose = () => {
    socket = null;
    emit({ event: "disconnected" });
    if (!terminated) setTimeout(reconnect, 300);
  };
  ws.send(JSON.stringify({
    type: "olm/wg/register",
    data: {
      publicKey,
      relay: false,
      olmVersion: "fake",
      olmAgent: "fake",
      orgId: "",
      chainId: "x",
    },
  }));
}

async function reconnect(): Promise<void> {
  while (!terminated) {
    try {
      await connectOnce();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

async function onFrame(frame: Frame): Promise<void> {
  if (frame.type === "olm/wg/connect") {
    const data = frame.data as ConnectMessage;
    const site = data.sites[0];
    if (!device) {
      const create = Deno.env.get("FAKE_AGENT_WG_DEVICE") === "burrow"
        ? createDevice
        : createWireguardGoDevice;
      device = await create({ name: ifname, privateKey, listenPort: 0 });
      await device.addAddress(data.tunnelIP);
      tunnelIP = data.tunnelIP.split("/")[0];
      if (!bare) {
        servers.push(
          startHttpServer(name, tunnelIP, 80),
          startTlsSite(name, cert, key, tunnelIP, 443),
        );
      }
    } else {
      // A fresh handshake with a (possibly restarted) hub, as an agent does after reconnecting.
      await device.removePeer(keyFromBase64(site.publicKey)!);
    }
    await device.setPeer({
      publicKey: keyFromBase64(site.publicKey)!,
      endpoint: site.endpoint,
      allowedIps: [`${site.serverIP}/32`],
      persistentKeepaliveS: 1,
    });
    serverIP = site.serverIP;
    lastSite = site;
    serverPort = site.serverPort;
    emit({ event: "registered", tunnelIP: data.tunnelIP, serverIP: site.serverIP });
    return;
  }
  if (frame.type === "olm/terminate") terminated = true;
  emit({ event: "frame", frame });
}

async function onCommand(line: string): Promise<void> {
  const command = JSON.parse(line);
  if (command.cmd === "send") {
    socket?.send(JSON.stringify(command.frame));
  } else if (command.cmd === "echo") {
    servers.push(startEchoServer(tunnelIP, command.port));
    emit({ event: "listening", port: command.port });
  } else if (command.cmd === "forward") {
    servers.push(startForwarder(tunnelIP, command.port, command.target));
    emit({ event: "listening", port: command.port });
  } else if (command.cmd === "widen") {
    // Misbehave on purpose: route the whole tunnel network to the hub, as a hostile agent could.
    const site = lastSite!;
    await device!.setPeer({
      publicKey: keyFromBase64(site.publicKey)!,
      endpoint: site.endpoint,
      allowedIps: [command.cidr],
      persistentKeepaliveS: 1,
    });
    emit({ event: "widened" });
  } else if (command.cmd === "portmap") {
    emit({ event: "portmap", ...await portMap(command) });
  } else if (command.cmd === "probe") {
    emit({ event: "probe", reply: await probe() });
  }
}

/** One exchange through a port map: send `payload`, return what comes back. */
async function portMap(command: {
  destination: string;
  dstPort: number;
  transport: "tcp" | "udp";
  payload: string;
}): Promise<{ ok: boolean; output?: string; error?: string }> {
  try {
    const conn = await dialPortMap({ hubAddress: serverIP, ...command });
    try {
      const payload = new TextEncoder().encode(command.payload);
      if (command.transport === "tcp") {
        await conn.write(payload);
        await conn.closeWrite();
        const output = await new Response(conn.readable).text();
        return { ok: true, output };
      }
      await conn.write(frameDatagram(payload));
      for await (const datagram of readDatagrams(conn)) {
        return { ok: true, output: new TextDecoder().decode(datagram) };
      }
      return { ok: false, error: "closed before a reply" };
    } finally {
      try {
        conn.close();
      } catch { /* closed by readable */ }
    }
  } catch (error) {
    return { ok: false, error: error instanceof PortMapRefused ? error.message : String(error) };
  }
}

/** One RTT probe to the hub's serverPort+1 through the tunnel; the reply's bytes. */
function probe(): Promise<number[] | null> {
  const socket = dgram.createSocket("udp4");
  const request = new Uint8Array(13);
  new DataView(request.buffer).setUint32(0, 0xdeadbeef);
  request[4] = 1;
  request.set([1, 2, 3, 4, 5, 6, 7, 8], 5);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.close();
      resolve(null);
    }, 3000);
    socket.on("message", (message: Uint8Array) => {
      clearTimeout(timer);
      socket.close();
      resolve([...message]);
    });
    socket.send(request, serverPort + 1, serverIP);
  });
}

await reconnect();
for await (const line of readLines(Deno.stdin.readable)) {
  await onCommand(line).catch((error) => emit({ event: "failure", message: String(error) }));
}
terminated = true;
socket?.close();
for (const server of servers) await server.close();
await device?.close();
