// Follows the interface behind a TUN descriptor wherever it lives, as the descriptor sees it:
// whether it still exists (TUNGETIFF answers EBADFD once it is deleted, in any namespace), its name,
// and its MTU (SIOCGIFMTU through a socket in the interface's current namespace, which TUNGETDEVNETNS
// names). Nothing here looks the interface up by name in the process's own namespace, so moving
// the interface to another namespace (`ip link set IF netns NS`) changes nothing for the device.

import {
  AF_INET,
  CLONE_NEWNET,
  cString,
  errno,
  libc,
  O_CLOEXEC,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SyscallError,
} from "./libc.ts";
import { tunInterfaceName } from "./tun.ts";

const TUNGETDEVNETNS = 0x54e3;
const SIOCGIFMTU = 0x8921;
const O_RDONLY = 0;

/** What the descriptor says of its interface now. */
export interface LinkState {
  name: string;
  /** null when it cannot be read (a kernel without TUNGETDEVNETNS and the interface moved away). */
  mtu: number | null;
}

function namespaceInode(fd: number): bigint | number | null {
  try {
    return Deno.statSync(`/proc/self/fd/${fd}`).ino;
  } catch {
    return null;
  }
}

/** The interface of one TUN descriptor; poll {@linkcode TunLink.state}. */
export class TunLink {
  /** The namespace the process was born in, to come back to after creating a socket elsewhere. */
  readonly #birthplace: number;
  readonly #birthplaceInode: bigint | number | null;
  #queryInode: bigint | number | null = null;
  #querySocket = -1;

  constructor(readonly tunFd: number) {
    this.#birthplace = libc().open(cString("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC, 0);
    this.#birthplaceInode = this.#birthplace >= 0 ? namespaceInode(this.#birthplace) : null;
  }

  /**
   * @returns the interface's name and MTU, or null once the interface is gone
   * @throws {SyscallError} when the descriptor is no TUN descriptor
   */
  state(): LinkState | null {
    const name = tunInterfaceName(this.tunFd);
    if (name === null) return null;
    return { name, mtu: this.#mtu(name) };
  }

  #mtu(name: string): number | null {
    const socket = this.#socketWhereTheLinkIs();
    if (socket < 0) return null;
    const ifreq = new Uint8Array(40);
    ifreq.set(new TextEncoder().encode(name).subarray(0, 15));
    if (libc().ioctl(socket, BigInt(SIOCGIFMTU), ifreq) < 0) return null;
    return new DataView(ifreq.buffer).getInt32(16, true);
  }

  /** A datagram socket in the interface's current namespace (made again when it moved). */
  #socketWhereTheLinkIs(): number {
    const c = libc();
    const netns = c.ioctl(this.tunFd, BigInt(TUNGETDEVNETNS), null);
    if (netns < 0) {
      // An older kernel: only the birthplace can be asked.
      if (this.#querySocket < 0) {
        this.#querySocket = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      }
      return this.#querySocket;
    }
    try {
      const inode = namespaceInode(netns);
      if (inode !== null && inode === this.#queryInode && this.#querySocket >= 0) {
        return this.#querySocket;
      }
      if (this.#querySocket >= 0) c.close(this.#querySocket);
      this.#querySocket = -1;
      this.#queryInode = inode;
      if (inode === this.#birthplaceInode || this.#birthplace < 0) {
        this.#querySocket = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        return this.#querySocket;
      }
      // A socket belongs to the namespace of the thread that creates it: step into the link's
      // namespace for one socket() call, then straight back (nothing else runs on this thread).
      if (c.setns(netns, CLONE_NEWNET) < 0) return -1;
      const socket = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (c.setns(this.#birthplace, CLONE_NEWNET) < 0) {
        throw new SyscallError("setns back to the birthplace namespace", errno());
      }
      this.#querySocket = socket;
      return socket;
    } finally {
      c.close(netns);
    }
  }

  close(): void {
    if (this.#querySocket >= 0) libc().close(this.#querySocket);
    if (this.#birthplace >= 0) libc().close(this.#birthplace);
    this.#querySocket = -1;
  }
}
