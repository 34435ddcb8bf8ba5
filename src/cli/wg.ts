// `burrow wg IFNAME`: a userspace WireGuard device managed with wg(8), like wireguard-go.

import type { Role } from "./role.ts";
import { log } from "../log/logger.ts";

export const wgRole: Role = {
  name: "wg",
  summary: "run a userspace WireGuard interface managed with wg(8), like wireguard-go",
  synopsis: "burrow wg [-f] IFNAME",
  description:
    "Creates the TUN interface IFNAME and its UAPI socket in /var/run/wireguard, then detaches.",
  flags: [
    {
      name: "foreground",
      short: "f",
      type: "boolean",
      description: "stay in the foreground instead of detaching",
    },
  ],
  run() {
    log.error("burrow wg is not built yet");
    return Promise.resolve(1);
  },
};
