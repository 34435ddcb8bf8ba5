// Test helper: the descriptors a daemonizing parent hands to `burrow wg` (WG_TUN_FD, WG_UAPI_FD),
// opened through libc without close-on-exec so a spawned child inherits them.

import { cString, errno, libc, O_RDWR, SyscallError } from "../../src/tun/libc.ts";

const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const AF_UNIX = 1;
const SOCK_STREAM = 1;

/**
 * Opens the TUN interface `name`; the descriptor survives exec.
 *
 * @param vnetHeader with IFF_VNET_HDR, as a newer wireguard-go opens it
 */
export function openTunInherited(name: string, vnetHeader = false): number {
  const c = libc();
  const fd = c.open(cString("/dev/net/tun"), O_RDWR, 0);
  if (fd < 0) throw new SyscallError("open /dev/net/tun", errno());
  const ifreq = new Uint8Array(40);
  ifreq.set(new TextEncoder().encode(name));
  new DataView(ifreq.buffer).setUint16(
    16,
    IFF_TUN | IFF_NO_PI | (vnetHeader ? IFF_VNET_HDR : 0),
    true,
  );
  if (c.ioctl(fd, BigInt(TUNSETIFF), ifreq) < 0) throw new SyscallError("TUNSETIFF", errno());
  return fd;
}

/** Listens on a Unix stream socket at `path`; the descriptor survives exec. */
export function listenUnixInherited(path: string): number {
  const c = libc();
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  try {
    Deno.removeSync(path);
  } catch { /* none yet */ }
  const fd = c.socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) throw new SyscallError("socket", errno());
  const address = new Uint8Array(110);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(new TextEncoder().encode(path), 2);
  if (c.bind(fd, address, address.length) < 0) throw new SyscallError("bind", errno());
  const listen = Deno.dlopen("libc.so.6", {
    listen: { parameters: ["i32", "i32"], result: "i32" },
  });
  if (listen.symbols.listen(fd, 16) < 0) throw new SyscallError("listen", errno());
  return fd;
}
