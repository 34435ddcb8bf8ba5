// Which AEAD seals transport data on the hot path, chosen once per engine at start: libsodium
// through FFI (aead_sodium.ts, about 5x node:crypto on a 1420-byte packet), else node:crypto's
// native ChaCha20-Poly1305 (about 3x @noble/ciphers), else the core's pure @noble one. The
// environment variable BURROW_AEAD (libsodium, node:crypto or noble) starts the chain lower, to
// run without native code or to compare.

import {
  createNobleTransportAead,
  loadNativeTransportAead,
  type TransportAead,
} from "../crypto/mod.ts";
import { loadSodiumTransportAead } from "./aead_sodium.ts";

/** The transport AEADs, fastest first. */
export const AEAD_NAMES = ["libsodium", "node:crypto", "noble"] as const;
export type AeadName = typeof AEAD_NAMES[number];

/** The environment variable that starts the choice lower in AEAD_NAMES. */
export const AEAD_ENV = "BURROW_AEAD";

const LOADERS: Record<AeadName, () => TransportAead | null | Promise<TransportAead | null>> = {
  libsodium: () => loadSodiumTransportAead(),
  "node:crypto": loadNativeTransportAead,
  noble: createNobleTransportAead,
};

/** What chooseTransportAead picked, and why the environment was not followed, if it was not. */
export interface AeadChoice {
  name: AeadName;
  aead: TransportAead;
  /** Set when BURROW_AEAD named no AEAD: the default order was used. */
  error?: string;
}

/**
 * The fastest transport AEAD that loads, starting at `from` (default: BURROW_AEAD when set, else
 * libsodium).
 */
export async function chooseTransportAead(from?: AeadName): Promise<AeadChoice> {
  let start: AeadName = "libsodium";
  let error: string | undefined;
  if (from) start = from;
  else {
    const value = environment();
    if ((AEAD_NAMES as readonly string[]).includes(value ?? "")) start = value as AeadName;
    else if (value !== undefined) {
      error = `${AEAD_ENV} must be one of ${AEAD_NAMES.join(", ")}; received ${
        JSON.stringify(value)
      }: using the default order`;
    }
  }
  for (const name of AEAD_NAMES.slice(AEAD_NAMES.indexOf(start))) {
    const aead = await LOADERS[name]();
    if (aead) return { name, aead, error };
  }
  return { name: "noble", aead: createNobleTransportAead(), error };
}

function environment(): string | undefined {
  try {
    return Deno.env.get(AEAD_ENV);
  } catch {
    return undefined; // no env permission: the default order
  }
}
