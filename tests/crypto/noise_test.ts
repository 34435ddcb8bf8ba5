// Known answers for the handshake: the cacophony IKpsk2 vector, WireGuard's initial chaining key and
// hash, and tampered bodies refused as values.

import { assert, assertEquals } from "../_support/assert.ts";
import { nobleOpen, nobleSeal, writeCounterNonce } from "../../src/crypto/aead.ts";
import { CONSTRUCTION, IDENTIFIER } from "../../src/crypto/constants.ts";
import { hash, utf8 } from "../../src/crypto/kdf.ts";
import {
  dh,
  initiationBodyBytes,
  noiseProtocol,
  readInitiationBody,
  readResponseBody,
  responseBodyBytes,
  splitSession,
  WIREGUARD_PROTOCOL,
  writeInitiationBody,
  writeResponseBody,
} from "../../src/crypto/noise.ts";
import { publicKeyOf } from "../../src/curve25519/mod.ts";
import { fromHex, toHex } from "./_hex.ts";

// cacophony test vectors: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s (generic Noise prologue and psk).
const VECTOR = {
  protocolName: "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s",
  prologue: "4a6f686e2047616c74",
  psk: "54686973206973206d7920417573747269616e20706572737065637469766521",
  initStatic: "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
  initEphemeral: "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
  initRemoteStatic: "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62",
  respStatic: "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
  respEphemeral: "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
  handshakeHash: "fe20f6e898ad41a1f4290b0f0ff97261b9536f0d5d95f5237e2a322f0d784414",
  messages: [
    {
      payload: "4c756477696720766f6e204d69736573",
      ciphertext: "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944001e21de9f98dd" +
        "d8e2ad57527207feb56253c9c94a9e496782ecfcb2a75fbcaf1b52948cc48daefe660c62119ab5000980c84" +
        "831215f2441eba616548e832985464cf17e51ee93109008399a21f7e13f",
    },
    {
      payload: "4d757272617920526f746862617264",
      ciphertext: "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843cb765f2caef075" +
        "1b8f007572dab0322217755c0632f365717edbf34d33e87a",
    },
    {
      payload: "462e20412e20486179656b",
      ciphertext: "8153ca9833bc3c1b91a7e66e5f4d4f5b59bf9e64c2f20d15f0bba7",
    },
    {
      payload: "4361726c204d656e676572",
      ciphertext: "07af0c9c86e1b4e80f36b04ff7688d51141af3debd0332f0a705ef",
    },
    {
      payload: "4a65616e2d426170746973746520536179",
      ciphertext: "6ab1467c0448cc78394494abaaf23afce0e234315d6e2624dcbfa8a21c1c4d073d",
    },
    {
      payload: "457567656e2042f6686d20766f6e2042617765726b",
      ciphertext: "dfc346c0d2296ae6cf1acf6f12b8456a1dba228cf8d8b774aacf1c47fc53aa80ebc7a4c292",
    },
  ],
};

/** A static key pair from a hex private key. */
function staticKeys(privateHex: string): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = fromHex(privateHex);
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

Deno.test("the IKpsk2 machinery reproduces the cacophony Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s vector", () => {
  const protocol = noiseProtocol(VECTOR.protocolName, fromHex(VECTOR.prologue));
  const psk = fromHex(VECTOR.psk);
  const initiator = staticKeys(VECTOR.initStatic);
  const responder = staticKeys(VECTOR.respStatic);
  assertEquals(toHex(responder.publicKey), VECTOR.initRemoteStatic);

  // Message 1: initiator -> responder.
  const m1 = VECTOR.messages[0];
  const payload1 = fromHex(m1.payload);
  const wire1 = new Uint8Array(initiationBodyBytes(payload1.length));
  const initiatorState = writeInitiationBody(
    protocol,
    initiator,
    responder.publicKey,
    dh(initiator.privateKey, responder.publicKey),
    fromHex(VECTOR.initEphemeral),
    payload1,
    wire1,
    0,
  );
  assert(initiatorState);
  assertEquals(toHex(wire1), m1.ciphertext);
  const responderState = readInitiationBody(
    protocol,
    responder,
    wire1,
    0,
    payload1.length,
    (remoteStatic) => {
      assertEquals(toHex(remoteStatic), toHex(initiator.publicKey));
      return dh(responder.privateKey, remoteStatic);
    },
  );
  assert(typeof responderState !== "string");
  assertEquals(toHex(responderState.payload), m1.payload);

  // Message 2: responder -> initiator.
  const m2 = VECTOR.messages[1];
  const payload2 = fromHex(m2.payload);
  const wire2 = new Uint8Array(responseBodyBytes(payload2.length));
  const responderDone = writeResponseBody(
    responderState,
    responderState.remoteStatic,
    psk,
    fromHex(VECTOR.respEphemeral),
    payload2,
    wire2,
    0,
  );
  assert(responderDone);
  assertEquals(toHex(wire2), m2.ciphertext);
  const initiatorDone = readResponseBody(initiatorState, initiator, psk, wire2, 0, payload2.length);
  assert(typeof initiatorDone !== "string");
  assertEquals(toHex(initiatorDone.payload), m2.payload);
  // The vector's handshake_hash is h right after message 2's `e` token, MixHash(h1 || re): the
  // generator snapshots h before the last message's psk token, so it leaves out MixHash(tau) of
  // MixKeyAndHash(psk) and MixHash of the payload ciphertext. The final h must include both: the
  // payload above is sealed with h-after-tau as associated data and its tag matches the vector.
  // (The same holds for the vectors' NKpsk2; for IK and NKpsk0 their hash is the final h.)
  const hashAfterResponderEphemeral = hash(initiatorState.hash, wire2.subarray(0, 32));
  assertEquals(toHex(hashAfterResponderEphemeral), VECTOR.handshakeHash);
  assertEquals(toHex(hash(responderState.hash, wire2.subarray(0, 32))), VECTOR.handshakeHash);
  // Both final transcripts agree, and differ from the vector's snapshot.
  assertEquals(toHex(initiatorDone.hash), toHex(responderDone.hash));
  assert(toHex(initiatorDone.hash) !== VECTOR.handshakeHash);

  // Transport: the initiator sends with the first split key, counters count per direction.
  const [initiatorSend, initiatorReceive] = splitSession(initiatorDone.chainKey);
  const [responderReceive, responderSend] = splitSession(responderDone.chainKey);
  assertEquals(toHex(initiatorSend), toHex(responderReceive));
  const counters = [0, 0];
  const nonce = new Uint8Array(12);
  for (let i = 2; i < VECTOR.messages.length; i++) {
    const fromInitiator = i % 2 === 0;
    const message = VECTOR.messages[i];
    const payload = fromHex(message.payload);
    const counter = counters[fromInitiator ? 0 : 1]++;
    writeCounterNonce(nonce, counter);
    const sealed = new Uint8Array(payload.length + 16);
    nobleSeal(fromInitiator ? initiatorSend : responderSend, nonce, null, payload, sealed);
    assertEquals(toHex(sealed), message.ciphertext);
    const opened = new Uint8Array(payload.length);
    const key = fromInitiator ? responderReceive : initiatorReceive;
    assertEquals(nobleOpen(key, nonce, null, sealed, opened), payload.length);
  }
});

Deno.test("WireGuard's initial chaining key and hash are HASH(Construction) and HASH(Ci || Identifier)", () => {
  const chainKey = hash(utf8(CONSTRUCTION));
  assertEquals(toHex(WIREGUARD_PROTOCOL.chainKey), toHex(chainKey));
  assertEquals(toHex(WIREGUARD_PROTOCOL.hash), toHex(hash(chainKey, utf8(IDENTIFIER))));
  // Published by several implementations as a constant: 60e26dae...cd36.
  assertEquals(
    toHex(WIREGUARD_PROTOCOL.chainKey),
    "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36",
  );
});

Deno.test("reading an initiation with a tampered static field fails without throwing", () => {
  const responder = staticKeys(VECTOR.respStatic);
  const initiator = staticKeys(VECTOR.initStatic);
  const wire = new Uint8Array(initiationBodyBytes(12));
  writeInitiationBody(
    WIREGUARD_PROTOCOL,
    initiator,
    responder.publicKey,
    dh(initiator.privateKey, responder.publicKey),
    fromHex(VECTOR.initEphemeral),
    new Uint8Array(12),
    wire,
    0,
  );
  wire[40] ^= 1;
  const result = readInitiationBody(WIREGUARD_PROTOCOL, responder, wire, 0, 12, () => null);
  assertEquals(result, "InvalidAeadTag");
  // A low-order ephemeral (all zeros) is refused as a value too.
  wire.fill(0, 0, 32);
  assertEquals(
    readInitiationBody(WIREGUARD_PROTOCOL, responder, wire, 0, 12, () => null),
    "InvalidMessage",
  );
});
