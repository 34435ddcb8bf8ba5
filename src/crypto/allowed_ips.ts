// Cryptokey routing (whitepaper §2): on the way out, the destination address of a TUN packet picks
// the peer by longest-prefix match; on the way in, the source address of a decrypted packet must
// map back to the peer it came from. One binary trie per family, walked bit by bit; the walk
// allocates nothing, so it runs twice per packet on the hot path.

import { type Cidr, formatCidr, parseCidr } from "../net/mod.ts";

class TrieNode<T> {
  zero: TrieNode<T> | null = null;
  one: TrieNode<T> | null = null;
  value: T | undefined = undefined;
  hasValue = false;
}

/** Longest-prefix match table from IPv4/IPv6 networks to values (peers). */
export class AllowedIps<T> {
  #v4 = new TrieNode<T>();
  #v6 = new TrieNode<T>();

  /**
   * Maps a network to `value`, replacing any previous owner of exactly that network.
   *
   * @param cidr `"10.0.0.0/24"`, `"fd00::1/128"`, a bare address (host route), or parsed bytes
   * @throws {TypeError} when `cidr` is not a network
   */
  insert(cidr: string | Cidr, value: T): void {
    const network = toCidr(cidr, "insert allowed IP");
    let node = this.#root(network.bytes.length);
    for (let i = 0; i < network.bits; i++) {
      if (bitAt(network.bytes, 0, i)) node = node.one ??= new TrieNode<T>();
      else node = node.zero ??= new TrieNode<T>();
    }
    node.value = value;
    node.hasValue = true;
  }

  /**
   * Removes exactly this network.
   *
   * @returns whether it was present
   * @throws {TypeError} when `cidr` is not a network
   */
  remove(cidr: string | Cidr): boolean {
    const network = toCidr(cidr, "remove allowed IP");
    const path: TrieNode<T>[] = [];
    let node: TrieNode<T> | null = this.#root(network.bytes.length);
    for (let i = 0; i < network.bits && node; i++) {
      path.push(node);
      node = bitAt(network.bytes, 0, i) ? node.one : node.zero;
    }
    if (!node || !node.hasValue) return false;
    node.value = undefined;
    node.hasValue = false;
    // Prune nodes left without value or children, from the leaf up.
    for (let i = path.length - 1; i >= 0; i--) {
      const child = bitAt(network.bytes, 0, i) ? path[i].one : path[i].zero;
      if (!child || child.hasValue || child.zero || child.one) break;
      if (bitAt(network.bytes, 0, i)) path[i].one = null;
      else path[i].zero = null;
    }
    return true;
  }

  /** Removes every network mapped to `value`. */
  removeByPeer(value: T): void {
    prune(this.#v4, value);
    prune(this.#v6, value);
  }

  /** Removes everything. */
  clear(): void {
    this.#v4 = new TrieNode<T>();
    this.#v6 = new TrieNode<T>();
  }

  /**
   * The value of the longest network containing `ip`.
   *
   * @param ip 4 or 16 address bytes
   */
  lookup(ip: Uint8Array): T | undefined {
    if (ip.length !== 4 && ip.length !== 16) return undefined;
    return this.lookupAt(ip, 0, ip.length);
  }

  /**
   * Like {@link lookup} for an address inside a packet: `bytes[offset..offset+length)`, where
   * `length` is 4 or 16. Allocates nothing.
   */
  lookupAt(bytes: Uint8Array, offset: number, length: number): T | undefined {
    let node: TrieNode<T> | null = length === 4 ? this.#v4 : this.#v6;
    let best = node.hasValue ? node.value : undefined;
    const bits = length * 8;
    for (let i = 0; i < bits; i++) {
      node = ((bytes[offset + (i >> 3)] >> (7 - (i & 7))) & 1) === 1 ? node.one : node.zero;
      if (node === null) break;
      if (node.hasValue) best = node.value;
    }
    return best;
  }

  /** Every network with its value (or only those of `value`), as canonical CIDR strings. */
  entries(value?: T): Array<{ cidr: string; value: T }> {
    const found: Array<{ cidr: string; value: T }> = [];
    collect(this.#v4, new Uint8Array(4), 0, value, found);
    collect(this.#v6, new Uint8Array(16), 0, value, found);
    return found;
  }

  #root(addressBytes: number): TrieNode<T> {
    return addressBytes === 4 ? this.#v4 : this.#v6;
  }
}

function bitAt(bytes: Uint8Array, offset: number, i: number): boolean {
  return ((bytes[offset + (i >> 3)] >> (7 - (i & 7))) & 1) === 1;
}

function toCidr(cidr: string | Cidr, action: string): Cidr {
  if (typeof cidr === "string") {
    const parsed = parseCidr(cidr.trim());
    if (!parsed) throw new TypeError(`Cannot ${action}: not an IP network, received "${cidr}"`);
    return parsed;
  }
  const max = cidr?.bytes?.length * 8;
  if (
    !(cidr?.bytes instanceof Uint8Array) || (max !== 32 && max !== 128) ||
    !Number.isInteger(cidr.bits) || cidr.bits < 0 || cidr.bits > max
  ) {
    throw new TypeError(
      `Cannot ${action}: expected 4 or 16 address bytes and 0-${
        max || 128
      } bits, received ${cidr?.bytes?.length} bytes/${cidr?.bits}`,
    );
  }
  return cidr;
}

/** Removes `value` below `node`; returns whether `node` itself became empty. */
function prune<T>(node: TrieNode<T>, value: T): boolean {
  if (node.zero && prune(node.zero, value)) node.zero = null;
  if (node.one && prune(node.one, value)) node.one = null;
  if (node.hasValue && node.value === value) {
    node.hasValue = false;
    node.value = undefined;
  }
  return !node.hasValue && !node.zero && !node.one;
}

function collect<T>(
  node: TrieNode<T>,
  address: Uint8Array,
  depth: number,
  value: T | undefined,
  found: Array<{ cidr: string; value: T }>,
): void {
  if (node.hasValue && (value === undefined || node.value === value)) {
    found.push({ cidr: formatCidr({ bytes: address.slice(), bits: depth }), value: node.value! });
  }
  const byte = depth >> 3;
  const mask = 0x80 >> (depth & 7);
  if (node.zero) collect(node.zero, address, depth + 1, value, found);
  if (node.one) {
    address[byte] |= mask;
    collect(node.one, address, depth + 1, value, found);
    address[byte] &= ~mask;
  }
}
