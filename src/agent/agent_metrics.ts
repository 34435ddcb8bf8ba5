// The agent's Prometheus metrics, read from where the facts live: the WireGuard device's peer
// counters (bytes, handshakes), the session (reconnects, each peer's RTT probe), the rules
// engine (rules by kind, each site's requests and unreachable upstreams). `GET /metrics` on
// every API listener serves them (src/api/metrics_route.ts).

import { keyToBase64 } from "../curve25519/mod.ts";
import { type MetricFamily, MetricsRegistry } from "../metrics/mod.ts";
import type { TrafficEngine } from "../rules/mod.ts";
import type { Agent } from "./agent.ts";

/** The agent's registry: collectors over `agent` (and `rules`, when the engine runs). */
export function agentMetrics(agent: Agent, rules?: TrafficEngine): MetricsRegistry {
  const registry = new MetricsRegistry();
  registry.collect(() => sessionFamilies(agent));
  registry.collect(() => tunnelFamilies(agent));
  if (rules) {
    const requests = registry.counter(
      "burrow_http_requests_total",
      "HTTP requests a site served (after its firewall), by site",
      ["site"],
    );
    const upstreamErrors = registry.counter(
      "burrow_http_upstream_errors_total",
      "requests answered 502 because the site's upstream could not be reached, by site",
      ["site"],
    );
    rules.observeSites((site, event) => {
      (event === "request" ? requests : upstreamErrors).inc({ site });
    });
    registry.collect(() => {
      const { https, portmaps } = rules.rules();
      const counts = {
        https: https.length,
        ports: rules.ports().length,
        portmaps: portmaps.length,
      };
      return [{
        name: "burrow_rules",
        help: "traffic rules the agent holds, by kind (ports: every allocated port)",
        type: "gauge",
        samples: Object.entries(counts).map(([kind, value]) => ({ labels: { kind }, value })),
      }];
    });
  }
  return registry;
}

function sessionFamilies(agent: Agent): MetricFamily[] {
  const status = agent.status();
  const rtt: MetricFamily = {
    name: "burrow_peer_rtt_seconds",
    help: "round-trip time of the in-tunnel probe to each site, by site name",
    type: "gauge",
    samples: [],
  };
  for (const peer of Object.values(status.peers)) {
    // rtt is in nanoseconds, 0 while unknown: an unknown value is left out.
    if (peer.rtt > 0) rtt.samples.push({ labels: { peer: peer.name }, value: peer.rtt / 1e9 });
  }
  return [
    {
      name: "burrow_session_reconnects_total",
      help: "times the session went back to log in after a drop or a failure",
      type: "counter",
      samples: [{ value: agent.reconnects }],
    },
    {
      name: "burrow_session_connected",
      help: "1 while the WebSocket to the hub is open",
      type: "gauge",
      samples: [{ value: status.connected ? 1 : 0 }],
    },
    {
      name: "burrow_session_registered",
      help: "1 while the agent is registered with the hub",
      type: "gauge",
      samples: [{ value: status.registered ? 1 : 0 }],
    },
    rtt,
  ];
}

async function tunnelFamilies(agent: Agent): Promise<MetricFamily[]> {
  const family = (name: string, help: string, type: "counter" | "gauge"): MetricFamily => ({
    name,
    help,
    type,
    samples: [],
  });
  const tx = family(
    "burrow_tunnel_transmit_bytes_total",
    "bytes sent to each WireGuard peer (by public key) since its tunnel came up",
    "counter",
  );
  const rx = family(
    "burrow_tunnel_receive_bytes_total",
    "bytes received from each WireGuard peer (by public key) since its tunnel came up",
    "counter",
  );
  const handshake = family(
    "burrow_tunnel_last_handshake_seconds",
    "Unix time of the last completed handshake with each WireGuard peer (0: never)",
    "gauge",
  );
  for (const peer of await agent.tunnelStats()) {
    const labels = { peer: keyToBase64(peer.publicKey) };
    tx.samples.push({ labels, value: peer.txBytes });
    rx.samples.push({ labels, value: peer.rxBytes });
    handshake.samples.push({ labels, value: Math.floor(peer.lastHandshakeMs / 1000) });
  }
  return [tx, rx, handshake];
}
