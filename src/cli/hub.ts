// `burrow hub`: the server agents connect to.

import type { Role } from "./role.ts";
import { log } from "../log/logger.ts";

export const hubRole: Role = {
  name: "hub",
  summary: "run the hub that agents connect to: control, WireGuard endpoint, public ingress",
  synopsis: "burrow hub --state-dir DIR --listen HOST:PORT --public-host HOST [flags]",
  description: "Serves agent logins and sessions, allocates public ports and routes ingress.",
  flags: [
    {
      name: "state-dir",
      type: "string",
      env: "BURROW_HUB_STATE_DIR",
      default: "/var/lib/burrow-hub",
      value: "DIR",
      description: "directory of the hub database",
    },
    {
      name: "listen",
      type: "hostport",
      env: "BURROW_HUB_LISTEN",
      default: "0.0.0.0:8443",
      value: "HOST:PORT",
      description: "address of the login endpoint and WebSocket",
    },
    {
      name: "public-host",
      type: "string",
      env: "BURROW_HUB_PUBLIC_HOST",
      value: "HOST",
      description: "address agents and internet clients use to reach this hub",
    },
    {
      name: "tunnel-cidr",
      type: "cidr",
      env: "BURROW_HUB_TUNNEL_CIDR",
      default: "100.89.128.0/20",
      value: "CIDR",
      description: "tunnel network handed out to agents",
    },
  ],
  run() {
    log.error("burrow hub is not built yet");
    return Promise.resolve(1);
  },
};
