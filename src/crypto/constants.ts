// Constants of the WireGuard protocol (whitepaper §6.1 and §5.4), used at every step of the packet
// flow: handshake construction, message sizes, session limits and timers. Spec constants first,
// implementation choices after; every duration carries its unit in its name.

// ---- Protocol identifiers (whitepaper §5.4) ----

/** Noise construction string, hashed into the initial chaining key. */
export const CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
/** WireGuard identifier, mixed into the initial hash as the Noise prologue. */
export const IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com";
/** Label of the mac1 key: `HASH(LABEL_MAC1 || responder public key)`. */
export const LABEL_MAC1 = "mac1----";
/** Label of the cookie encryption key: `HASH(LABEL_COOKIE || public key)`. */
export const LABEL_COOKIE = "cookie--";

// ---- Session limits (whitepaper §6.1) ----

/**
 * Messages sent under one key before the initiator rekeys (2^60). Beyond the counters a number
 * holds exactly, so the interface rekeys at session.ts's REKEY_COUNTER_LIMIT (2^52) instead.
 */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/**
 * Messages after which a key must not be used (2^64 - 2^13 - 1). As a double it rounds to a value
 * a few thousand above the exact limit; counters here are numbers and stop far earlier, at
 * {@link MAX_COUNTER}, so the rounding never matters.
 */
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;
/** Highest counter this implementation sends or accepts: counters are exact doubles up to 2^53. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

// ---- Timers (whitepaper §6.1) ----

/** The initiator starts a new handshake when the current session is this old. */
export const REKEY_AFTER_TIME_MS = 120_000;
/** A session this old is no longer used to send or receive. */
export const REJECT_AFTER_TIME_MS = 180_000;
/** Handshake retransmissions give up after this long. */
export const REKEY_ATTEMPT_TIME_MS = 90_000;
/** An unanswered initiation is retransmitted after this (plus jitter). */
export const REKEY_TIMEOUT_MS = 5_000;
/** Retransmissions and new-handshake timers add a random jitter below this bound. */
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334;
/** A passive keepalive is sent this long after data was received and nothing was sent back. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Cookie secrets (responder) and cookies (initiator) live this long. */
export const COOKIE_REFRESH_TIME_MS = 120_000;
/** Key material of a peer is zeroed when no new session was derived for this long. */
export const ZERO_KEYS_AFTER_MS = REJECT_AFTER_TIME_MS * 3;
/** Received-key age at which an initiator starts a handshake before the session dies. */
export const REKEY_ON_RECEIVE_AFTER_MS = REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS -
  REKEY_TIMEOUT_MS;
/** Retransmissions before giving up: RekeyAttemptTime / RekeyTimeout, as wireguard-go counts. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS;

// ---- Implementation choices ----

/** Initiations from one peer closer together than this are refused (wireguard-go: 50 per s). */
export const HANDSHAKE_INITIATION_RATE_MS = 20;
/** Packets kept per peer while a handshake is under way; older ones are dropped first. */
export const MAX_STAGED_PACKETS = 128;
/** Transport plaintext is padded to a multiple of this. */
export const PADDING_MULTIPLE = 16;
