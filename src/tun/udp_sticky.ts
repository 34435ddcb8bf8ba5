// Source-address stickiness, as the kernel's WireGuard and wireguard-go do it: a reply leaves from
// the local address the peer contacted (on a host with several), and falls over to whatever the
// routing picks when that address is gone.
//
//   receive: the UDP sockets ask for IP_PKTINFO / IPV6_RECVPKTINFO; the engine's recvmmsg
//            (fd_source.ts) leaves the control message in the slot (SLOT_CONTROL_OFFSET, its
//            length at SLOT_CONTROL_LENGTH_OFFSET); StickySources.remember keeps the local
//            address per remote endpoint;
//   send:    StickySender sends with sendmsg and an IP_PKTINFO / IPV6_PKTINFO control message
//            naming that source; when the kernel refuses it (the address was removed: EINVAL and
//            the like) the source is forgotten and the datagram goes out with plain sendto.
//
// The source is taken from every datagram of a remote endpoint, before authentication: a forged
// one can at most make the replies to that endpoint leave from another of this host's addresses.

import type { Endpoint } from "../crypto/mod.ts";
import {
  AF_INET,
  errno,
  IP_PKTINFO,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_PKTINFO,
  libc,
  SOL_UDP,
  UDP_SEGMENT,
} from "./libc.ts";
import { addressOf, copyBytes, getUint64, setUint64 } from "./bytes.ts";

/** Where in a slot header the reader leaves the control message, and its room. */
export const SLOT_CONTROL_OFFSET = 64;
export const SLOT_CONTROL_BYTES = 64;
/** Where in a slot header the reader leaves the control message's length. */
export const SLOT_CONTROL_LENGTH_OFFSET = 4;

const CMSG_HEADER_BYTES = 16;
const MAX_REMOTES = 4096;

/** The local address a remote endpoint last contacted: 4 or 16 bytes. */
export interface Source {
  address: Uint8Array;
  length: number;
}

/** Remembers, per remote endpoint, the local address its datagrams arrive at. */
export class StickySources {
  readonly #byRemote = new Map<string, Source>();
  readonly #ofEndpoint = new WeakMap<Endpoint, Source>();
  #bytes: Uint8Array | null = null;
  #view: DataView | null = null;

  #entry(endpoint: Endpoint): Source {
    let source = this.#ofEndpoint.get(endpoint);
    if (source) return source;
    const key = `${endpoint.address}|${endpoint.port}`;
    source = this.#byRemote.get(key);
    if (!source) {
      if (this.#byRemote.size >= MAX_REMOTES) this.#byRemote.clear();
      source = { address: new Uint8Array(16), length: 0 };
      this.#byRemote.set(key, source);
    }
    this.#ofEndpoint.set(endpoint, source);
    return source;
  }

  /** Reads the pktinfo control message at `bytes[offset…offset+length)` for datagrams of `from`. */
  remember(from: Endpoint, bytes: Uint8Array, offset: number, length: number): void {
    // The engine passes the same ring every time: its view is made once.
    if (bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#view = new DataView(bytes.buffer, bytes.byteOffset);
    }
    const view = this.#view!;
    for (let at = offset; at + CMSG_HEADER_BYTES <= offset + length;) {
      const cmsgLength = getUint64(view, at);
      if (cmsgLength < CMSG_HEADER_BYTES) return;
      const level = view.getInt32(at + 8, true), type = view.getInt32(at + 12, true);
      const data = at + CMSG_HEADER_BYTES;
      if (level === IPPROTO_IP && type === IP_PKTINFO && cmsgLength >= CMSG_HEADER_BYTES + 12) {
        // struct in_pktinfo { ifindex; spec_dst (the local address to answer from); addr }
        this.#set(from, bytes, data + 4, 4);
        return;
      }
      if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && cmsgLength >= CMSG_HEADER_BYTES + 20) {
        // struct in6_pktinfo { addr (the local address contacted); ifindex }
        this.#set(from, bytes, data, 16);
        return;
      }
      at += (cmsgLength + 7) & ~7;
    }
  }

  /** Keeps `bytes[at…at+length)` as the local address of `from`. */
  #set(from: Endpoint, bytes: Uint8Array, at: number, length: number): void {
    const source = this.#entry(from);
    if (source.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (source.address[i] !== bytes[at + i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    copyBytes(source.address, 0, bytes, at, length);
    source.length = length;
  }

  /** The local address to send to `to` from, or null to let the routing choose. */
  sourceOf(to: Endpoint): Source | null {
    const source = this.#ofEndpoint.get(to) ?? this.#entry(to);
    return source.length > 0 ? source : null;
  }

  /** Lets the routing choose again (the remembered address is no longer usable). */
  forget(to: Endpoint): void {
    this.#entry(to).length = 0;
  }
}

/**
 * sendmsg with a pktinfo control message (the source), a UDP_SEGMENT one (UDP GSO: `buffer` holds
 * datagrams of `segmentSize` bytes back to back, the last may be shorter), or both; one msghdr,
 * iovec and control buffer, reused.
 */
export class StickySender {
  readonly #header = new Uint8Array(56);
  readonly #headerView = new DataView(this.#header.buffer);
  readonly #iovec = new Uint8Array(16);
  readonly #iovecView = new DataView(this.#iovec.buffer);
  readonly #name = new Uint8Array(28);
  readonly #control = new Uint8Array(64);
  readonly #controlView = new DataView(this.#control.buffer);
  readonly #controlPointer = addressOf(this.#control);
  #buffer: Uint8Array | null = null;

  constructor() {
    setUint64(this.#headerView, 0, addressOf(this.#name));
    setUint64(this.#headerView, 16, addressOf(this.#iovec));
    setUint64(this.#headerView, 24, 1);
    setUint64(this.#headerView, 32, this.#controlPointer);
  }

  /**
   * Sends `buffer[0…length)` to the sockaddr `address`, from `source` when given, cut into
   * datagrams of `segmentSize` bytes by the kernel when that is above 0.
   *
   * @returns 0 when sent, else the errno
   */
  send(
    fd: number,
    address: Uint8Array,
    source: Source | null,
    buffer: Uint8Array,
    length: number,
    segmentSize = 0,
  ): number {
    if (this.#buffer !== buffer) {
      this.#buffer = buffer;
      setUint64(this.#iovecView, 0, addressOf(buffer));
    }
    setUint64(this.#iovecView, 8, length);
    copyBytes(this.#name, 0, address, 0, address.length);
    this.#headerView.setUint32(8, address.length, true);
    // Plain loops and 32-bit writes: see bytes.ts (a lone packet pays for each builtin it reaches).
    const controlBytes = this.#control;
    for (let i = 0; i < controlBytes.length; i++) controlBytes[i] = 0;
    const controlView = this.#controlView;
    const v4 = (address[0] | (address[1] << 8)) === AF_INET;
    let control = 0;
    if (source) {
      // A source of the other family (a mapped or stale entry) is not sent with.
      if ((source.length === 4) !== v4) return 22;
      if (v4) {
        setUint64(controlView, 0, CMSG_HEADER_BYTES + 12);
        controlView.setInt32(8, IPPROTO_IP, true);
        controlView.setInt32(12, IP_PKTINFO, true);
        copyBytes(controlBytes, CMSG_HEADER_BYTES + 4, source.address, 0, 4);
        control = 32;
      } else {
        setUint64(controlView, 0, CMSG_HEADER_BYTES + 20);
        controlView.setInt32(8, IPPROTO_IPV6, true);
        controlView.setInt32(12, IPV6_PKTINFO, true);
        copyBytes(controlBytes, CMSG_HEADER_BYTES, source.address, 0, 16);
        control = 40;
      }
    }
    if (segmentSize > 0) {
      setUint64(controlView, control, CMSG_HEADER_BYTES + 2);
      controlView.setInt32(control + 8, SOL_UDP, true);
      controlView.setInt32(control + 12, UDP_SEGMENT, true);
      controlView.setUint16(control + CMSG_HEADER_BYTES, segmentSize, true);
      control += 24;
    }
    setUint64(this.#headerView, 32, control > 0 ? this.#controlPointer : 0);
    setUint64(this.#headerView, 40, control);
    return libc().sendmsg(fd, this.#header, 0) >= 0 ? 0 : errno();
  }
}
