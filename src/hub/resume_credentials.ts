// Resumption credentials: the fast path of a reconnect. Every successful login hands the agent
// a fresh random 256-bit credential; its next login may present it instead of paying for
// scrypt. The hub keeps only the credential's SHA-256 (a random 256-bit value needs no slow
// hash: there is nothing to guess), compares it in constant time, and rotates it on every use
// with a compare-and-swap in the store, so a credential works once. It lives `ttlMs` after it
// was issued or after its agent was last seen connected; a removed client's row goes with it.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { HubStateStore } from "./state_store.ts";

/** How long a credential outlives its agent's last sign of life. */
export const RESUME_TTL_MS = 10 * 60_000;

export class ResumeCredentials {
  constructor(
    readonly store: HubStateStore,
    readonly ttlMs = RESUME_TTL_MS,
    readonly now: () => number = Date.now,
  ) {}

  /** A new credential for `clientId`, replacing any earlier one. */
  async issue(clientId: string): Promise<string> {
    const credential = randomCredential();
    await this.store.setResumption(clientId, digest(credential), this.now() + this.ttlMs);
    return credential;
  }

  /**
   * Uses `credential` for `clientId`: when it is the current, unexpired one it is replaced at
   * once and the new one is returned; otherwise null (the caller takes the slow path).
   */
  async resume(clientId: string, credential: string): Promise<string | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(credential)) return null;
    const record = await this.store.resumptionOf(clientId);
    const now = this.now();
    if (!record || record.expiresAt <= now) return null;
    const presented = digest(credential);
    const a = new TextEncoder().encode(presented),
      b = new TextEncoder().encode(record.credentialHash);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
    const next = randomCredential();
    const swapped = await this.store.swapResumption(clientId, {
      presentedHash: presented,
      nextHash: digest(next),
      now,
      expiresAt: now + this.ttlMs,
    });
    return swapped ? next : null;
  }

  /** Keeps the credentials of connected agents alive (called periodically). */
  async keepAlive(clientIds: readonly string[]): Promise<void> {
    await this.store.extendResumptions(clientIds, this.now() + this.ttlMs);
  }
}

function randomCredential(): string {
  return new Uint8Array(randomBytes(32)).toBase64({ alphabet: "base64url", omitPadding: true });
}

function digest(credential: string): string {
  return createHash("sha256").update(credential).digest("base64");
}
