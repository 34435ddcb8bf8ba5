// The handshake of the packet flow (whitepaper §5.4.2-§5.4.5): Noise IKpsk2 over X25519,
// ChaCha20-Poly1305 and BLAKE2s. The message bodies are generic over the protocol name and
// prologue, so the same code is checked against the cacophony Noise vectors; WireGuard is the
// construction `Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s` with its identifier as prologue.
//
//   IKpsk2:  <- s
//            -> e, es, s, ss, {payload}      (initiation: payload = TAI64N timestamp)
//            <- e, ee, se, psk, {payload}    (response: payload = empty)

import { x25519 } from "../curve25519/mod.ts";
import { openHandshake, sealHandshake, TAG_BYTES } from "./aead.ts";
import { CONSTRUCTION, IDENTIFIER } from "./constants.ts";
import { hash, HASH_BYTES, isZero, kdf1, kdf2, kdf3, utf8 } from "./kdf.ts";
import { publicKeyOf } from "../curve25519/mod.ts";

/** Public key, private key and DH output size. */
export const KEY_BYTES = 32;

/** The initial symmetric state of a protocol: chaining key and hash after the prologue. */
export interface NoiseProtocol {
  readonly chainKey: Uint8Array;
  readonly hash: Uint8Array;
}

/**
 * Derives the initial chaining key and hash of a Noise protocol (Noise §5.2 InitializeSymmetric
 * then MixHash(prologue)). Names up to 32 bytes are zero-padded, longer ones hashed, which for
 * WireGuard's 37-byte construction gives Ci = HASH(Construction), Hi = HASH(Ci || Identifier).
 */
export function noiseProtocol(name: string, prologue: Uint8Array): NoiseProtocol {
  const nameBytes = utf8(name);
  let chainKey: Uint8Array;
  if (nameBytes.length <= HASH_BYTES) {
    chainKey = new Uint8Array(HASH_BYTES);
    chainKey.set(nameBytes);
  } else {
    chainKey = hash(nameBytes);
  }
  return { chainKey, hash: hash(chainKey, prologue) };
}

/** WireGuard's construction and identifier. */
export const WIREGUARD_PROTOCOL: NoiseProtocol = noiseProtocol(CONSTRUCTION, utf8(IDENTIFIER));

/**
 * X25519, or null for a result that must be refused: a low-order or malformed public key gives an
 * all-zero secret (noble throws for it; we turn that into a value so hostile keys never throw).
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  try {
    const shared = x25519.getSharedSecret(privateKey, publicKey);
    return isZero(shared) ? null : shared;
  } catch {
    return null;
  }
}

/** Static identity of one side. */
export interface StaticKeys {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** What the initiator keeps between sending the initiation and reading the response. */
export interface InitiatorState {
  chainKey: Uint8Array;
  hash: Uint8Array;
  ephemeralPrivate: Uint8Array;
}

/** Bytes of the initiation body (e, {s}, {payload}) for a payload of `payloadLength`. */
export function initiationBodyBytes(payloadLength: number): number {
  return KEY_BYTES + KEY_BYTES + TAG_BYTES + payloadLength + TAG_BYTES;
}

/** Bytes of the response body (e, {payload}). */
export function responseBodyBytes(payloadLength: number): number {
  return KEY_BYTES + payloadLength + TAG_BYTES;
}

/**
 * Initiator, first message: writes `e, es, s, ss, {payload}` at `out[offset..]`.
 *
 * @param staticStatic DH(s, rs), precomputed per peer (null when the remote key is unusable)
 * @returns the state to read the response with, or null when a DH result is refused
 */
export function writeInitiationBody(
  protocol: NoiseProtocol,
  local: StaticKeys,
  remoteStatic: Uint8Array,
  staticStatic: Uint8Array | null,
  ephemeralPrivate: Uint8Array,
  payload: Uint8Array,
  out: Uint8Array,
  offset: number,
): InitiatorState | null {
  if (!staticStatic) return null;
  let h = hash(protocol.hash, remoteStatic);
  let ck: Uint8Array = protocol.chainKey;
  // e (psk modes also mix e into the chaining key)
  const ephemeralPublic = publicKeyOf(ephemeralPrivate);
  out.set(ephemeralPublic, offset);
  h = hash(h, ephemeralPublic);
  ck = kdf1(ck, ephemeralPublic);
  // es
  const es = dh(ephemeralPrivate, remoteStatic);
  if (!es) return null;
  let key: Uint8Array;
  [ck, key] = kdf2(ck, es);
  // s
  const staticField = out.subarray(offset + KEY_BYTES, offset + 2 * KEY_BYTES + TAG_BYTES);
  sealHandshake(key, local.publicKey, h, staticField);
  h = hash(h, staticField);
  // ss
  [ck, key] = kdf2(ck, staticStatic);
  // payload
  const payloadStart = offset + 2 * KEY_BYTES + TAG_BYTES;
  const payloadField = out.subarray(payloadStart, payloadStart + payload.length + TAG_BYTES);
  sealHandshake(key, payload, h, payloadField);
  h = hash(h, payloadField);
  key.fill(0);
  return { chainKey: ck, hash: h, ephemeralPrivate };
}

/** What the responder learns from an initiation. */
export interface ResponderState {
  chainKey: Uint8Array;
  hash: Uint8Array;
  remoteEphemeral: Uint8Array;
  remoteStatic: Uint8Array;
  payload: Uint8Array;
}

/** Why reading a handshake body failed. */
export type ReadFailure = "InvalidAeadTag" | "UnknownPeer" | "InvalidMessage";

/**
 * Responder, first message: reads `e, es, s, ss, {payload}` from `message[offset..]`.
 *
 * @param resolve maps the decrypted initiator static key to DH(s, rs), or null for an unknown peer
 * @returns the responder state, or why the message is refused
 */
export function readInitiationBody(
  protocol: NoiseProtocol,
  local: StaticKeys,
  message: Uint8Array,
  offset: number,
  payloadLength: number,
  resolve: (remoteStatic: Uint8Array) => Uint8Array | null,
): ResponderState | ReadFailure {
  let h = hash(protocol.hash, local.publicKey);
  let ck: Uint8Array = protocol.chainKey;
  const remoteEphemeral = message.slice(offset, offset + KEY_BYTES);
  h = hash(h, remoteEphemeral);
  ck = kdf1(ck, remoteEphemeral);
  const es = dh(local.privateKey, remoteEphemeral);
  if (!es) return "InvalidMessage";
  let key: Uint8Array;
  [ck, key] = kdf2(ck, es);
  const staticField = message.subarray(offset + KEY_BYTES, offset + 2 * KEY_BYTES + TAG_BYTES);
  const remoteStatic = new Uint8Array(KEY_BYTES);
  if (!openHandshake(key, staticField, h, remoteStatic)) return "InvalidAeadTag";
  h = hash(h, staticField);
  const staticStatic = resolve(remoteStatic);
  if (!staticStatic) return "UnknownPeer";
  [ck, key] = kdf2(ck, staticStatic);
  const payloadStart = offset + 2 * KEY_BYTES + TAG_BYTES;
  const payloadField = message.subarray(payloadStart, payloadStart + payloadLength + TAG_BYTES);
  const payload = new Uint8Array(payloadLength);
  if (!openHandshake(key, payloadField, h, payload)) return "InvalidAeadTag";
  h = hash(h, payloadField);
  key.fill(0);
  return { chainKey: ck, hash: h, remoteEphemeral, remoteStatic, payload };
}

/** Chaining key and hash once both messages are done: the input of {@link splitSession}. */
export interface CompletedHandshake {
  chainKey: Uint8Array;
  hash: Uint8Array;
}

/**
 * Responder, second message: writes `e, ee, se, psk, {payload}` at `out[offset..]`.
 *
 * @returns the final chaining key and hash, or null when a DH result is refused
 */
export function writeResponseBody(
  state: { chainKey: Uint8Array; hash: Uint8Array; remoteEphemeral: Uint8Array },
  remoteStatic: Uint8Array,
  presharedKey: Uint8Array,
  ephemeralPrivate: Uint8Array,
  payload: Uint8Array,
  out: Uint8Array,
  offset: number,
): CompletedHandshake | null {
  const ephemeralPublic = publicKeyOf(ephemeralPrivate);
  out.set(ephemeralPublic, offset);
  const keys = mixResponseKeys(
    state,
    ephemeralPublic,
    dh(ephemeralPrivate, state.remoteEphemeral),
    dh(ephemeralPrivate, remoteStatic),
    presharedKey,
  );
  if (!keys) return null;
  const field = out.subarray(offset + KEY_BYTES, offset + KEY_BYTES + payload.length + TAG_BYTES);
  sealHandshake(keys.key, payload, keys.hash, field);
  keys.key.fill(0);
  return { chainKey: keys.chainKey, hash: hash(keys.hash, field) };
}

/**
 * Initiator, second message: reads `e, ee, se, psk, {payload}` from `message[offset..]`.
 *
 * @returns the final state and the payload, or why the message is refused
 */
export function readResponseBody(
  state: InitiatorState,
  local: StaticKeys,
  presharedKey: Uint8Array,
  message: Uint8Array,
  offset: number,
  payloadLength: number,
): (CompletedHandshake & { payload: Uint8Array }) | ReadFailure {
  const remoteEphemeral = message.subarray(offset, offset + KEY_BYTES);
  const keys = mixResponseKeys(
    state,
    remoteEphemeral,
    dh(state.ephemeralPrivate, remoteEphemeral),
    dh(local.privateKey, remoteEphemeral),
    presharedKey,
  );
  if (!keys) return "InvalidMessage";
  const field = message.subarray(
    offset + KEY_BYTES,
    offset + KEY_BYTES + payloadLength + TAG_BYTES,
  );
  const payload = new Uint8Array(payloadLength);
  const opened = openHandshake(keys.key, field, keys.hash, payload);
  keys.key.fill(0);
  if (!opened) return "InvalidAeadTag";
  return { chainKey: keys.chainKey, hash: hash(keys.hash, field), payload };
}

/**
 * The response's `e, ee, se, psk` tokens, the same on both sides given the two DH results:
 * MixHash(e) and MixKey(e) (psk modes), MixKey(ee), MixKey(se), MixKeyAndHash(psk).
 *
 * @returns chaining key, hash and the key sealing the payload; null when a DH result was refused
 */
function mixResponseKeys(
  state: { chainKey: Uint8Array; hash: Uint8Array },
  responderEphemeral: Uint8Array,
  ee: Uint8Array | null,
  se: Uint8Array | null,
  presharedKey: Uint8Array,
): { chainKey: Uint8Array; hash: Uint8Array; key: Uint8Array } | null {
  if (!ee || !se) return null;
  let ck = kdf1(state.chainKey, responderEphemeral);
  ck = kdf1(ck, ee);
  ck = kdf1(ck, se);
  const [chainKey, tau, key] = kdf3(ck, presharedKey);
  const h = hash(hash(state.hash, responderEphemeral), tau);
  tau.fill(0);
  return { chainKey, hash: h, key };
}

/**
 * Noise Split(): the two transport keys. The initiator sends with the first and receives with
 * the second; the responder the other way round.
 */
export function splitSession(chainKey: Uint8Array): [Uint8Array, Uint8Array] {
  return kdf2(chainKey, new Uint8Array(0));
}
