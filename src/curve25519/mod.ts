// X25519 (RFC 7748), the one Diffie-Hellman burrow uses: the WireGuard core (src/crypto) and the
// sealed endpoint announcements (src/protocol) share it. A leaf of its own, so that the wire
// modules need not load the WireGuard core to get it.

export { x25519 } from "./x25519.ts";
