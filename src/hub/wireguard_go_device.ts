// An alternative hub tunnel: Debian's wireguard-go driven over its UAPI socket, behind the
// same Device contract as burrow's own device (src/tun). The hub picks it with
// `--wg-device wireguard-go`; tests and benchmarks use it to compare. wireguard-go owns the UDP
// socket, so this device has no sendDatagram and never calls onForeignDatagram: the hub cannot
// answer PANGOLIN_TEST_REQ through it, as it does through burrow's device.

import type { Device, DeviceOptions, PeerSettings, PeerStatus } from "../tun/mod.ts";
import { generatePrivateKey, keyFromHex, keyToHex, publicKeyOf } from "../curve25519/mod.ts";

const UAPI_DIR = "/var/run/wireguard";

/**
 * Starts `wireguard-go -f NAME`, configures key and port over UAPI and brings the link up.
 *
 * @throws {Error} when wireguard-go is missing or the interface does not appear
 */
export async function createWireguardGoDevice(options: DeviceOptions): Promise<Device> {
  const privateKey = options.privateKey ?? generatePrivateKey();
  const child = new Deno.Command("wireguard-go", {
    args: ["-f", options.name],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { LOG_LEVEL: "error" },
  }).spawn();
  const socketPath = `${UAPI_DIR}/${options.name}.sock`;
  const exited = child.status;
  let gone = false;
  exited.then(() => gone = true);
  const deadline = Date.now() + 5000;
  while (!await exists(socketPath)) {
    if (gone || Date.now() > deadline) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      const stderr = await new Response(child.stderr).text();
      await exited;
      throw new Error(`Cannot start wireguard-go ${options.name}: ${stderr.trim() || "timeout"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.stderr.cancel().catch(() => {});
  const device = new WireguardGoDevice(options.name, privateKey, socketPath, child);
  await device.uapiSet(
    `private_key=${keyToHex(privateKey)}\nlisten_port=${options.listenPort ?? 0}\n`,
  );
  await ip(["link", "set", options.name, "mtu", String(options.mtu ?? 1420), "up"]);
  await device.refreshListenPort();
  return device;
}

class WireguardGoDevice implements Device {
  readonly publicKey: Uint8Array;
  listenPort = 0;
  readonly closed: Promise<void>;
  #closing = false;

  constructor(
    readonly name: string,
    privateKey: Uint8Array,
    readonly socketPath: string,
    readonly child: Deno.ChildProcess,
  ) {
    this.publicKey = publicKeyOf(privateKey);
    this.closed = child.status.then(() => {});
  }

  async uapi(request: string): Promise<string> {
    const conn = await Deno.connect({ transport: "unix", path: this.socketPath });
    try {
      await conn.write(new TextEncoder().encode(request));
      let text = "";
      const buffer = new Uint8Array(65536);
      while (!text.endsWith("\n\n")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      return text;
    } finally {
      conn.close();
    }
  }

  async uapiSet(lines: string): Promise<void> {
    const answer = await this.uapi(`set=1\n${lines}\n`);
    if (!answer.includes("errno=0")) {
      throw new Error(`Cannot configure ${this.name}: ${answer.trim()}`);
    }
  }

  async refreshListenPort(): Promise<void> {
    const answer = await this.uapi("get=1\n\n");
    const match = /^listen_port=(\d+)$/m.exec(answer);
    if (match) this.listenPort = Number(match[1]);
  }

  async setPeer(peer: PeerSettings): Promise<void> {
    const lines = [`public_key=${keyToHex(peer.publicKey)}`, "replace_allowed_ips=true"];
    for (const cidr of peer.allowedIps) lines.push(`allowed_ip=${cidr}`);
    if (peer.endpoint) lines.push(`endpoint=${peer.endpoint}`);
    if (peer.persistentKeepaliveS !== undefined) {
      lines.push(`persistent_keepalive_interval=${peer.persistentKeepaliveS}`);
    }
    if (peer.presharedKey) lines.push(`preshared_key=${keyToHex(peer.presharedKey)}`);
    await this.uapiSet(lines.join("\n") + "\n");
  }

  async removePeer(publicKey: Uint8Array): Promise<void> {
    await this.uapiSet(`public_key=${keyToHex(publicKey)}\nremove=true\n`);
  }

  async peers(): Promise<PeerStatus[]> {
    const answer = await this.uapi("get=1\n\n");
    const peers: PeerStatus[] = [];
    let current: PeerStatus | null = null;
    for (const line of answer.split("\n")) {
      const eq = line.indexOf("=");
      if (eq < 0) continue;
      const key = line.slice(0, eq), value = line.slice(eq + 1);
      if (key === "public_key") {
        current = {
          publicKey: keyFromHex(value) ?? new Uint8Array(32),
          endpoint: null,
          rxBytes: 0,
          txBytes: 0,
          lastHandshakeMs: 0,
          allowedIps: [],
        };
        peers.push(current);
      } else if (current) {
        if (key === "endpoint") current.endpoint = value;
        else if (key === "rx_bytes") current.rxBytes = Number(value);
        else if (key === "tx_bytes") current.txBytes = Number(value);
        else if (key === "last_handshake_time_sec") current.lastHandshakeMs += Number(value) * 1000;
        else if (key === "last_handshake_time_nsec") {
          current.lastHandshakeMs += Math.floor(Number(value) / 1e6);
        } else if (key === "allowed_ip") current.allowedIps.push(value);
      }
    }
    return peers;
  }

  async addAddress(cidr: string): Promise<void> {
    await ip(["addr", "add", cidr, "dev", this.name]);
  }

  async addRoute(cidr: string): Promise<void> {
    await ip(["route", "add", cidr, "dev", this.name]);
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.child.kill("SIGTERM");
      } catch { /* exited */ }
    }
    await this.closed;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function ip(args: string[]): Promise<void> {
  const output = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (output.code !== 0) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
}
