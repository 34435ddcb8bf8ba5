// The hub's login endpoint (PROTOCOL.md section 1): an agent trades its id and secret for a
// short-lived token, which opens its control WebSocket.

import { z } from "zod";
import { CSRF_HEADER, CSRF_VALUE, describeIssues, type LoginResponse } from "../protocol/mod.ts";
import { readStreamCapped } from "../net/mod.ts";
import { log } from "../log/mod.ts";
import { VERSION } from "../version.ts";
import type { HubControlContext } from "./control_plane.ts";

const MAX_LOGIN_BODY_BYTES = 8 * 1024;

const loginSchema = z.object({
  olmId: z.string().min(1).max(128),
  secret: z.string().min(1).max(512),
  userToken: z.string().max(4096).nullish(),
  orgId: z.string().max(256).nullish(),
});

interface TokenEntry {
  clientId: string;
  /** The org the session runs in. */
  org: string;
  expiresAt: number;
}

/** Tokens handed out by the login endpoint, until they expire or their client is removed. */
export class LoginTokens {
  readonly #tokens = new Map<string, TokenEntry>();

  constructor(readonly ttlMs: number) {}

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

  /** The client a token was issued to, or null when unknown or expired (then forgotten). */
  clientOf(token: string): string | null {
    return this.entryOf(token)?.clientId ?? null;
  }

  /** The client and org of a token, or null when unknown or expired (then forgotten). */
  entryOf(token: string): { clientId: string; org: string } | null {
    const entry = this.#tokens.get(token);
    if (!entry) return null;
    if (entry.expiresAt <= Date.now()) {
      this.#tokens.delete(token);
      return null;
    }
    return { clientId: entry.clientId, org: entry.org };
  }

  forget(token: string): void {
    this.#tokens.delete(token);
  }

  /** Forgets every token of a removed client. */
  forgetClient(clientId: string): void {
    for (const [token, entry] of this.#tokens) {
      if (entry.clientId === clientId) this.#tokens.delete(token);
    }
  }
}

/**
 * Answers the login endpoint: checks the CSRF header, the body and the client's secret, then
 * issues a token and names the hub as the agent's one exit node.
 */
export async function answerLogin(
  request: Request,
  ctx: Pick<HubControlContext, "store" | "site" | "resources">,
  tokens: LoginTokens,
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
  const { olmId, secret } = parsed.data;
  if (!await ctx.store.verifyClient(olmId, secret)) {
    log.warn("login refused", { clientId: olmId.slice(0, 128) });
    return loginError(401, "invalid id or secret");
  }
  const org = ctx.resources
    ? ctx.resources.orgForLogin(olmId, parsed.data.orgId)
    : parsed.data.orgId || "default";
  if (org === null) return loginError(403, "not a member of this organization");
  const token = tokens.issue(olmId, org);
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
    },
  };
  log.info("agent logged in", { clientId: olmId });
  return Response.json(body);
}

function loginError(status: number, message: string): Response {
  const body: LoginResponse = { success: false, error: true, message, status, data: null };
  return Response.json(body, { status });
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
