// The TUN end of the device: opening /dev/net/tun through libc, and `ip` for link, address and route.

import {
  cString,
  errno,
  F_GETFL,
  F_SETFL,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  SyscallError,
} from "./libc.ts";

const TUNSETIFF = 0x400454ca;
const TUNGETIFF = 0x800454d2;
const EBADFD = 77;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
/** Each read and write starts with a virtio_net_hdr (the TUN offloads: tun_offload.ts). */
export const IFF_VNET_HDR = 0x4000;
const IFNAMSIZ = 16;

/** Whether `name` is usable as a Linux interface name. */
export function isValidInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.=+-]{1,15}$/.test(name) && name !== "." && name !== "..";
}

/**
 * Opens a TUN interface (IFF_TUN | IFF_NO_PI) named `name`, non-blocking; the
 * interface lives as long as the returned descriptor stays open.
 *
 * @param vnetHeader open with IFF_VNET_HDR (negotiate the offloads with tun_offload.ts)
 * @returns the file descriptor
 * @throws {TypeError} for a bad name
 * @throws {SyscallError} when open or TUNSETIFF fails (EPERM without CAP_NET_ADMIN, EBUSY when taken)
 */
export function openTun(name: string, vnetHeader = false): number {
  if (!isValidInterfaceName(name)) {
    throw new TypeError(`Cannot create the interface: bad name, received ${JSON.stringify(name)}`);
  }
  const c = libc();
  const fd = c.open(cString("/dev/net/tun"), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError("open /dev/net/tun", errno());
  const ifreq = new Uint8Array(40);
  ifreq.set(new TextEncoder().encode(name).subarray(0, IFNAMSIZ - 1));
  new DataView(ifreq.buffer).setUint16(
    IFNAMSIZ,
    IFF_TUN | IFF_NO_PI | (vnetHeader ? IFF_VNET_HDR : 0),
    true,
  );
  if (c.ioctl(fd, BigInt(TUNSETIFF), ifreq) < 0) {
    const code = errno();
    c.close(fd);
    throw new SyscallError("ioctl TUNSETIFF", code);
  }
  setNonBlocking(fd);
  return fd;
}

/**
 * The name of the interface behind a TUN descriptor, asked of the descriptor itself (TUNGETIFF),
 * so it answers wherever the interface lives now (another namespace, a new name).
 *
 * @returns the name, or null once the interface is gone (the descriptor is detached: EBADFD)
 * @throws {SyscallError} when `fd` is no TUN descriptor
 */
export function tunInterfaceName(fd: number): string | null {
  const ifreq = tunGetIff(fd);
  if (ifreq === null) return null;
  const end = ifreq.indexOf(0);
  return new TextDecoder().decode(ifreq.subarray(0, end < 0 ? IFNAMSIZ : Math.min(end, IFNAMSIZ)));
}

/**
 * The flags the TUN descriptor was opened with (IFF_VNET_HDR among them).
 *
 * @returns the flags, or null once the interface is gone
 * @throws {SyscallError} when `fd` is no TUN descriptor
 */
export function tunFlags(fd: number): number | null {
  const ifreq = tunGetIff(fd);
  return ifreq === null ? null : new DataView(ifreq.buffer).getUint16(IFNAMSIZ, true);
}

function tunGetIff(fd: number): Uint8Array | null {
  const ifreq = new Uint8Array(40);
  if (libc().ioctl(fd, BigInt(TUNGETIFF), ifreq) < 0) {
    const code = errno();
    if (code === EBADFD) return null;
    throw new SyscallError("ioctl TUNGETIFF", code);
  }
  return ifreq;
}

/**
 * Takes over a TUN descriptor opened by someone else (wireguard-go's WG_TUN_FD): non-blocking,
 * close-on-exec.
 *
 * @returns the interface name
 * @throws {SyscallError} when `fd` is no attached TUN descriptor
 */
export function adoptTun(fd: number): string {
  const name = tunInterfaceName(fd);
  if (name === null) throw new SyscallError("ioctl TUNGETIFF", EBADFD);
  setNonBlocking(fd);
  return name;
}

/** Puts a descriptor in non-blocking mode so readers can poll with a timeout. */
export function setNonBlocking(fd: number): void {
  const c = libc();
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw new SyscallError("fcntl O_NONBLOCK", errno());
  }
}

/** Closes a descriptor opened through libc. */
export function closeFd(fd: number): void {
  libc().close(fd);
}

/** Runs `ip ARGS…`; throws with its stderr when it fails. */
export async function ip(args: string[]): Promise<void> {
  const output = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!output.success) {
    const message = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot run ip ${args.join(" ")}: ${message}`);
  }
}

/** Sets the MTU and brings the link up. */
export async function setLinkUp(name: string, mtu: number): Promise<void> {
  await ip(["link", "set", "dev", name, "mtu", String(mtu), "up"]);
}

/** Adds `cidr` to the interface (IPv4 or IPv6; IPv6 without duplicate detection). */
export async function addLinkAddress(name: string, cidr: string): Promise<void> {
  const v6 = cidr.includes(":");
  await ip([...(v6 ? ["-6"] : []), "addr", "add", cidr, "dev", name, ...(v6 ? ["nodad"] : [])]);
}

/** Routes `cidr` through the interface (replacing an existing route to the same network). */
export async function addLinkRoute(name: string, cidr: string): Promise<void> {
  await ip([...(cidr.includes(":") ? ["-6"] : []), "route", "replace", cidr, "dev", name]);
}
