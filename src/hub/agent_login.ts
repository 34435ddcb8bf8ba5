// The hub's login endpoint (PROTOCOL.md section 1): an agent trades its id and secret for a
// short-lived, single-use token, which opens its control WebSocket. A reconnecting agent may
// present its resumption credential instead (resume_credentials.ts): checked with SHA-256,
// no scrypt. Everything else (a first login, a stale credential, a wrong secret) pays for
// the slow hash, queued fairly by source address (login_gate.ts) and refused with 429 and
// Retry-After when the queue is full.

import { z } from "../schema/mod.ts";
import { CSRF_HEADER, CSRF_VALUE, describeIssues, type LoginResponse } from "../protocol/mod.ts";
import { readStreamCapped } from "../net/mod.ts";
import { log } from "../log/mod.ts";
import { VERSION } from "../version.ts";
import type { SiteConfig } from "../protocol/mod.ts";
import type { HubStateStore } from "./state_store.ts";
import { LoginBusy, type LoginGate } from "./login_gate.ts";
import type { ResumeCredentials } from "./resume_credentials.ts";
import type { HubControlContext } from "./control_plane.ts";

const MAX_LOGIN_BODY_BYTES = 8 * 1024;
/** A WebSocket token opens one socket within this long of the login. */
export const TOKEN_TTL_MS = 30_000;

const loginSchema = z.object({
  olmId: z.string().min(1).max(128),
  secret: z.string().min(1).max(512),
  userToken: z.string().max(4096).nullish(),
  orgId: z.string().max(256).nullish(),
  resumeToken: z.string().max(128).nullish(),
});

interface TokenEntry {
  clientId: string;
  /** The org the session runs in. */
  org: string;
  expiresAt: number;
}

/** Tokens handed out by the login endpoint: each opens one WebSocket, within its lifetime. */
export class LoginTokens {
  readonly #tokens = new Map<string, TokenEntry>();

  constructor(readonly ttlMs: number = TOKEN_TTL_MS) {}

  /** A new token for `clientId` in `org` (expired ones are swept first). */
  issue(clientId: string, org = "default"): string {
    const now = Date.now();
    for (const [token, entry] of this.#tokens) {
      if (entry.expiresAt <= now) this.#tokens.delete(token);
    }
    const token = randomToken();
    this.#tokens.set(token, { clientId, org, expiresAt: now + this.ttlMs });
    return token;
  }

  /**
   * Uses up a token: the client and org it was issued for, or null when unknown, used or
   * expired.
   */
  take(token: string): { clientId: string; org: string } | null {
    const entry = this.#tokens.get(token);
    if (!entry) return null;
    this.#tokens.delete(token);
    return entry.expiresAt > Date.now() ? { clientId: entry.clientId, org: entry.org } : null;
  }

  /** Forgets every token of a removed client. */
  forgetClient(clientId: string): void {
    for (const [token, entry] of this.#tokens) {
      if (entry.clientId === clientId) this.#tokens.delete(token);
    }
  }
}

/** What the login endpoint works with. */
export interface LoginContext {
  store: HubStateStore;
  site(): SiteConfig;
  tokens: LoginTokens;
  gate: LoginGate;
  resume: ResumeCredentials;
  /** Orgs and the relay port, when the hub serves resources. */
  resources?: HubControlContext["resources"];
}

/**
 * Answers the login endpoint: checks the CSRF header and the body, then the resumption
 * credential (fast) or the client's secret (slow, queued), then issues a token and a new
 * credential and names the hub as the agent's one exit node.
 *
 * @param remoteAddress the caller's address, which the slow path's limits count against
 */
export async function answerLogin(
  request: Request,
  ctx: LoginContext,
  remoteAddress: string,
): Promise<Response> {
  if (request.method !== "POST") return loginError(405, "use POST");
  if (request.headers.get(CSRF_HEADER) !== CSRF_VALUE) {
    return loginError(403, `missing ${CSRF_HEADER} header`);
  }
  const text = await readCapped(request, MAX_LOGIN_BODY_BYTES);
  if (text === null) return loginError(413, "request body too large");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return loginError(400, "body must be JSON");
  }
  const parsed = loginSchema.safeParse(json);
  if (!parsed.success) return loginError(400, describeIssues(parsed.error));
  const { olmId, secret, resumeToken } = parsed.data;
  // 1. The fast path: a current resumption credential, rotated as it is used.
  let nextResume = resumeToken ? await ctx.resume.resume(olmId, resumeToken) : null;
  const resumed = nextResume !== null;
  // 2. The slow path, queued fairly; a full queue is 429 with Retry-After.
  if (!resumed) {
    let verified: boolean;
    try {
      verified = await ctx.gate.run(remoteAddress, () => ctx.store.verifyClient(olmId, secret));
    } catch (error) {
      if (!(error instanceof LoginBusy)) throw error;
      log.debug("login deferred", { address: remoteAddress, retryAfterS: error.retryAfterS });
      return loginError(429, error.message, { "retry-after": String(error.retryAfterS) });
    }
    if (!verified) {
      log.warn("login refused", { clientId: olmId.slice(0, 128) });
      return loginError(401, "invalid id or secret");
    }
    nextResume = await ctx.resume.issue(olmId);
  }
  const org = ctx.resources
    ? ctx.resources.orgForLogin(olmId, parsed.data.orgId)
    : parsed.data.orgId || "default";
  if (org === null) return loginError(403, "not a member of this organization");
  const token = ctx.tokens.issue(olmId, org);
  const site = ctx.site();
  const body: LoginResponse = {
    success: true,
    error: false,
    message: "Token created successfully",
    status: 200,
    data: {
      token,
      serverVersion: VERSION,
      exitNodes: [{
        publicKey: site.publicKey,
        endpoint: site.endpoint,
        relayPort: ctx.resources?.relayPort ?? site.serverPort,
        siteIds: [site.siteId],
      }],
      resumeToken: nextResume!,
    },
  };
  log.info("agent logged in", { clientId: olmId, resumed });
  return Response.json(body);
}

/** A login refusal in the endpoint's JSON envelope. */
export function loginError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const body: LoginResponse = { success: false, error: true, message, status, data: null };
  return Response.json(body, { status, headers });
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

async function readCapped(request: Request, limit: number): Promise<string | null> {
  if (!request.body) return "";
  const bytes = await readStreamCapped(request.body, limit);
  return bytes === null ? null : new TextDecoder().decode(bytes);
}
