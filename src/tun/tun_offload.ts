// Which offloads a TUN descriptor gives the engine, negotiated on the descriptor itself:
//
//   "tso"   opened with IFF_VNET_HDR and TUNSETOFFLOAD took checksum + TCP segmentation offload
//           (IPv4 and IPv6): reads may be 64 KB TCP super-packets (tso_split.ts), writes may join
//           segments into one (tcp_coalesce.ts);
//   "vnet"  opened with IFF_VNET_HDR (by whoever handed us the descriptor, WG_TUN_FD) but the
//           kernel refused the offloads: every read and write still carries the header;
//   "none"  plain IP packets, one per read and write.
//
// A TUN burrow opens itself asks for IFF_VNET_HDR; when TUNSETOFFLOAD is then refused, the device
// opens it again without the header (device.ts), so "vnet" only comes from an inherited one.
// BURROW_TUN_OFFLOAD=off keeps a TUN of our own plain (to compare, or to rule the offloads out).

import { libc } from "./libc.ts";
import { IFF_VNET_HDR, tunFlags } from "./tun.ts";

export type TunOffload = "tso" | "vnet" | "none";

const TUNSETOFFLOAD = 0x400454d0;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;

/** Whether a TUN burrow opens itself should ask for the offloads (BURROW_TUN_OFFLOAD). */
export function offloadsWanted(): boolean {
  try {
    return Deno.env.get("BURROW_TUN_OFFLOAD") !== "off";
  } catch {
    return true; // no env permission: the default
  }
}

/**
 * Turns the offloads on for `fd` when it carries virtio_net_hdr, else reports "none".
 *
 * @param wanted false: leave them off (a header-carrying descriptor still answers "vnet")
 * @returns the mode the engine must read and write the descriptor in
 */
export function negotiateOffload(fd: number, wanted = true): TunOffload {
  const flags = tunFlags(fd);
  if (flags === null || (flags & IFF_VNET_HDR) === 0) return "none";
  // TUNSETOFFLOAD takes the feature bits as the argument itself, not through a pointer.
  const { ioctlValue } = libc();
  const all = BigInt(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
  if (wanted && ioctlValue(fd, BigInt(TUNSETOFFLOAD), all) === 0) return "tso";
  ioctlValue(fd, BigInt(TUNSETOFFLOAD), 0n);
  return "vnet";
}
