// The agent's one-line state for systemd's STATUS= (src/net/sd_notify.ts), from the same
// object GET /status answers, so `systemctl status burrow-agent` and the API agree.

import type { AgentStatus } from "./agent.ts";

/** E.g. "connected, tunnel 100.89.128.2/20, 1 peer" or "waiting for POST /connect". */
export function agentStatusLine(status: AgentStatus, active: boolean): string {
  if (status.terminated) {
    return `stopped by the hub: ${status.error?.message ?? "session terminated"}`;
  }
  if (status.connected) {
    const peers = Object.keys(status.peers).length;
    const tunnel = status.networkSettings.tunnelIP || "no tunnel address yet";
    return `connected, tunnel ${tunnel}, ${peers} ${peers === 1 ? "peer" : "peers"}`;
  }
  if (active) {
    return status.error ? `connecting (last error: ${status.error.message})` : "connecting";
  }
  return "waiting for POST /connect";
}
