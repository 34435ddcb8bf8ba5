// The hub's Prometheus metrics and the `--metrics-addr` listener that serves them: agents
// online (the control plane's sessions), ingress connections and bytes by agent (counted by
// the public listeners as they relay), and the WireGuard device's per-peer byte counts.

import { keyToBase64 } from "../curve25519/mod.ts";
import { log } from "../log/mod.ts";
import { EXPOSITION_CONTENT_TYPE, type Metric, MetricsRegistry } from "../metrics/mod.ts";
import type { Device } from "../tun/mod.ts";

/** What the public listeners count per relayed connection (src/hub/ingress_listeners.ts). */
export interface IngressCounters {
  /** A connection was admitted and dialed through to `clientId`'s agent. */
  connection(clientId: string): void;
  /** `n` bytes went from the internet client to the agent (`in`) or back (`out`). */
  bytes(clientId: string, direction: "in" | "out", n: number): void;
}

/** What the port-map service counts (src/hub/portmap.ts). */
export interface PortMapCounters {
  /** `n` bytes of `clientId`'s port maps went out to the destination or came back. */
  portMapBytes(clientId: string, direction: "sent" | "received", n: number): void;
}

/** What the hub's metrics read when scraped. */
export interface HubMetricsSources {
  /** Ids of agents with an open control session. */
  onlineAgents(): readonly string[];
  device(): Pick<Device, "peers">;
}

export class HubMetrics implements IngressCounters, PortMapCounters {
  readonly registry = new MetricsRegistry();
  readonly #connections: Metric;
  readonly #bytes: Metric;
  readonly #portMapBytes: Metric;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  constructor(sources: HubMetricsSources) {
    this.#connections = this.registry.counter(
      "burrow_hub_ingress_connections_total",
      "public connections (HTTP, TLS, allocated ports) relayed to each agent, by client id",
      ["agent"],
    );
    this.#bytes = this.registry.counter(
      "burrow_hub_ingress_bytes_total",
      "bytes relayed between internet clients and each agent; in: towards the agent",
      ["agent", "direction"],
    );
    this.#portMapBytes = this.registry.counter(
      "burrow_hub_portmap_bytes_total",
      "bytes the port-map service relayed for each agent's port maps, by client id; " +
        "sent: from the agent towards the destination",
      ["agent", "direction"],
    );
    this.registry.collect(() => [{
      name: "burrow_hub_agents_online",
      help: "agents with an open control session",
      type: "gauge",
      samples: [{ value: sources.onlineAgents().length }],
    }]);
    this.registry.collect(async () => {
      const peers = await sources.device().peers();
      const family = (name: string, help: string, pick: (p: typeof peers[0]) => number) => ({
        name,
        help,
        type: "counter" as const,
        samples: peers.map((p) => ({ labels: { peer: keyToBase64(p.publicKey) }, value: pick(p) })),
      });
      return [
        family(
          "burrow_tunnel_transmit_bytes_total",
          "bytes the hub sent to each WireGuard peer (by public key)",
          (p) => p.txBytes,
        ),
        family(
          "burrow_tunnel_receive_bytes_total",
          "bytes the hub received from each WireGuard peer (by public key)",
          (p) => p.rxBytes,
        ),
      ];
    });
  }

  connection(clientId: string): void {
    this.#connections.inc({ agent: clientId });
  }

  bytes(clientId: string, direction: "in" | "out", n: number): void {
    this.#bytes.inc({ agent: clientId, direction }, n);
  }

  portMapBytes(clientId: string, direction: "sent" | "received", n: number): void {
    this.#portMapBytes.inc({ agent: clientId, direction }, n);
  }

  /**
   * Serves `GET /metrics` on `addr` (port 0 picks one).
   *
   * @returns the port bound
   */
  async listen(addr: { hostname: string; port: number }): Promise<number> {
    const ready = Promise.withResolvers<number>();
    this.#server = Deno.serve({
      hostname: addr.hostname,
      port: addr.port,
      onListen: ({ port }) => ready.resolve(port),
      onError: (error) => {
        log.error("metrics request failed", { error: String(error) });
        return new Response("Internal server error\n", { status: 500 });
      },
    }, async (req) => {
      const path = new URL(req.url).pathname;
      if (path !== "/metrics") return new Response("Not found\n", { status: 404 });
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET" } });
      }
      return new Response(await this.registry.render(), {
        headers: { "content-type": EXPOSITION_CONTENT_TYPE },
      });
    });
    const port = await ready.promise;
    log.info("metrics listening", { addr: `${addr.hostname}:${port}` });
    return port;
  }

  async close(): Promise<void> {
    await this.#server?.shutdown();
  }
}
