// Where the hub's relay sends each WireGuard datagram (docs/private-resources.md, "Relay"),
// without any key that decrypts it. Pure: addresses and keys come from a RelayPeers view.
//
// 1. The source address says which agent sent the datagram (agents keep their hub peer alive
//    from the same UDP socket, so the hub knows each agent's address); unknown sources drop.
// 2. A handshake initiation names its responder only through mac1, keyed by the responder's
//    public key: the relay tries the sender's allowed partners (clients of a site, sites of a
//    client) and forwards to the one whose key verifies. The initiator's sender index is
//    recorded as owned by the initiator, with that partner.
// 3. A response is accepted only from the partner of the index it answers and only when its
//    mac1 verifies for the index's owner; its sender index is recorded the same way.
// 4. Cookie replies and transport data go to the owner of their receiver index, only from that
//    index's partner, only while the two may still talk (access removed: dropped at once).
// An index held by another agent is never taken over while it is in use.

import { equalBytes, mac, mac1Key } from "../crypto/mod.ts";
import { keyFromBase64 } from "../curve25519/mod.ts";

const INITIATION_BYTES = 148;
const RESPONSE_BYTES = 92;
const COOKIE_REPLY_BYTES = 64;
const MIN_TRANSPORT_BYTES = 32;
const MACS_BYTES = 32;
/** An index unused this long is forgotten (WireGuard rekeys every 2 minutes). */
export const RELAY_INDEX_TTL_MS = 5 * 60_000;
/** Transport data refreshes an index's last use at most this often. */
const TOUCH_EVERY_MS = 10_000;

/** What the relay knows of agents: their current addresses and who may talk to whom. */
export interface RelayPeers {
  /** The key (base64) of the agent sending from `address` ("ip:port"), or null. */
  keyAt(address: string): string | null;
  /** The agent's current address, or null when unknown. */
  addressOf(key: string): string | null;
  /** Keys the agent may exchange relayed datagrams with. */
  partnersOf(key: string): ReadonlySet<string>;
}

export interface RelayIndex {
  index: number;
  /** The agent that chose this index (datagrams with it as receiver go there). */
  owner: string;
  /** The only agent allowed to send to it. */
  partner: string;
  seenAt: number;
}

export interface RelaySessionsOptions {
  now?: () => number;
  /** Called when a handshake claims an index (persist it so a restart keeps relaying). */
  learned?: (entry: RelayIndex) => void;
}

const readU32 = (bytes: Uint8Array, offset: number) =>
  (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) |
    (bytes[offset + 3] << 24)) >>> 0;

export class RelaySessions {
  readonly #indexes = new Map<number, RelayIndex>();
  readonly #mac1Keys = new Map<string, Uint8Array | null>();
  readonly #now: () => number;
  readonly #learned: (entry: RelayIndex) => void;

  constructor(readonly peers: RelayPeers, options: RelaySessionsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#learned = options.learned ?? (() => {});
  }

  get size(): number {
    return this.#indexes.size;
  }

  /** Restores indexes saved by `learned` (hub restart); stale ones are skipped. */
  restore(entries: readonly RelayIndex[]): void {
    const cutoff = this.#now() - RELAY_INDEX_TTL_MS;
    for (const entry of entries) {
      if (entry.seenAt >= cutoff) this.#indexes.set(entry.index, { ...entry });
    }
  }

  /** Forgets indexes unused for RELAY_INDEX_TTL_MS. */
  sweep(): void {
    const cutoff = this.#now() - RELAY_INDEX_TTL_MS;
    for (const [index, entry] of this.#indexes) {
      if (entry.seenAt < cutoff) this.#indexes.delete(index);
    }
  }

  /** The address to forward `datagram` (received from `from`) to, or null to drop it. */
  route(datagram: Uint8Array, from: string): string | null {
    if (datagram.length < 4 || datagram[1] | datagram[2] | datagram[3]) return null;
    const sender = this.peers.keyAt(from);
    if (!sender) return null;
    switch (datagram[0]) {
      case 1:
        return datagram.length === INITIATION_BYTES ? this.#initiation(datagram, sender) : null;
      case 2:
        return datagram.length === RESPONSE_BYTES ? this.#response(datagram, sender) : null;
      case 3:
        return datagram.length === COOKIE_REPLY_BYTES ? this.#toOwner(datagram, sender) : null;
      case 4:
        return datagram.length >= MIN_TRANSPORT_BYTES ? this.#toOwner(datagram, sender) : null;
      default:
        return null;
    }
  }

  #initiation(datagram: Uint8Array, sender: string): string | null {
    for (const partner of this.peers.partnersOf(sender)) {
      if (!this.#mac1Verifies(datagram, partner)) continue;
      const address = this.peers.addressOf(partner);
      if (!address) return null;
      return this.#claim(readU32(datagram, 4), sender, partner) ? address : null;
    }
    return null;
  }

  #response(datagram: Uint8Array, sender: string): string | null {
    const answered = this.#live(readU32(datagram, 8));
    if (!answered || answered.partner !== sender) return null;
    if (!this.peers.partnersOf(sender).has(answered.owner)) return null;
    if (!this.#mac1Verifies(datagram, answered.owner)) return null;
    const address = this.peers.addressOf(answered.owner);
    if (!address) return null;
    return this.#claim(readU32(datagram, 4), sender, answered.owner) ? address : null;
  }

  #toOwner(datagram: Uint8Array, sender: string): string | null {
    const entry = this.#live(readU32(datagram, 4));
    if (!entry || entry.partner !== sender) return null;
    if (!this.peers.partnersOf(sender).has(entry.owner)) return null;
    const now = this.#now();
    if (now - entry.seenAt > TOUCH_EVERY_MS) entry.seenAt = now;
    return this.peers.addressOf(entry.owner);
  }

  #live(index: number): RelayIndex | null {
    const entry = this.#indexes.get(index);
    if (!entry) return null;
    if (entry.seenAt < this.#now() - RELAY_INDEX_TTL_MS) {
      this.#indexes.delete(index);
      return null;
    }
    return entry;
  }

  /** Records `index` as `owner`'s, talking to `partner`; false when another agent holds it. */
  #claim(index: number, owner: string, partner: string): boolean {
    const held = this.#live(index);
    if (held && held.owner !== owner) return false;
    const entry: RelayIndex = { index, owner, partner, seenAt: this.#now() };
    this.#indexes.set(index, entry);
    this.#learned(entry);
    return true;
  }

  #mac1Verifies(message: Uint8Array, responderKey: string): boolean {
    let key = this.#mac1Keys.get(responderKey);
    if (key === undefined) {
      const publicKey = keyFromBase64(responderKey);
      key = publicKey ? mac1Key(publicKey) : null;
      this.#mac1Keys.set(responderKey, key);
    }
    if (!key) return false;
    const end = message.length - MACS_BYTES;
    return equalBytes(mac(key, message.subarray(0, end)), message.subarray(end, end + 16));
  }
}
