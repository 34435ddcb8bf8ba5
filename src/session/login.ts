// Login to the hub (PROTOCOL.md section 1): trade the agent's id and secret for a WebSocket
// token. 401/403 are final (the session ends terminated); anything else is worth a retry.
// Each login also brings a single-use resumption credential, kept in memory per hub and
// client and presented at the next login so that a reconnect skips the hub's slow hash. A
// busy hub answers 429 with Retry-After: the login waits that long plus a random share of
// it (so a fleet told the same time does not return together) and tries again, within its
// time budget.

import {
  CSRF_HEADER,
  CSRF_VALUE,
  LOGIN_PATH,
  type LoginRequest,
  type LoginResponse,
} from "../protocol/mod.ts";
import { hubHttpClient, type HubTlsMaterial } from "./hub_tls.ts";

/** How the login's HTTP client reaches the hub. */
export interface HubClientSettings {
  tls?: HubTlsMaterial;
  /** The route of `dns` (src/session/hub_route.ts); the system resolver when absent. */
  proxy?: Deno.Proxy;
}

/** The hub refused the credentials (401/403): retrying cannot help. */
export class LoginRefused extends Error {
  override name = "LoginRefused";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface LoginResult {
  token: string;
  serverVersion: string;
  /** The hub's WireGuard key and relay (`exitNodes[0]`), when it named one. */
  exitNode?: { publicKey: string; endpoint: string; relayPort: number };
}

/** The hub answered 429 past the login's time budget: transient, try again later. */
export class LoginBusy extends Error {
  override name = "LoginBusy";
  constructor(readonly retryAfterMs: number, message: string) {
    super(message);
  }
}

/** The newest resumption credential per hub endpoint, client id and secret (memory only). */
const resumeTokens = new Map<string, string>();

/** Forgets every resumption credential (tests; a process keeps them until it exits). */
export function forgetResumeTokens(): void {
  resumeTokens.clear();
}

/**
 * How long to wait after a 429: Retry-After (seconds, default 1) plus up to half of it again,
 * drawn at random.
 */
export function retryDelayMs(retryAfter: string | null, random: () => number = Math.random) {
  const seconds = retryAfter && /^\d{1,5}$/.test(retryAfter.trim()) ? Number(retryAfter) : 1;
  const base = Math.max(1, seconds) * 1000;
  return Math.round(base + random() * base / 2);
}

/**
 * Logs in, presenting the resumption credential of the last login to this hub when there is
 * one, and waiting out 429 answers while `timeoutMs` allows.
 *
 * @param endpoint the hub URL, e.g. `https://hub.example.com`
 * @param timeoutMs the whole login's budget, waits after 429 included
 * @param via a private CA and a client certificate for the hub, when configured, and the route
 *   of `dns` (src/session/hub_route.ts) when the hub's name is resolved through it
 * @throws {LoginRefused} on 401 or 403
 * @throws {LoginBusy} when the hub still answers 429 at the end of the budget
 * @throws {Error} on any other failure (network, 5xx, malformed answer): transient
 */
export async function login(
  endpoint: string,
  request: LoginRequest,
  timeoutMs = 15_000,
  via: HubClientSettings = {},
  random: () => number = Math.random,
): Promise<LoginResult> {
  const deadline = Date.now() + timeoutMs;
  // Keyed by the secret too: a credential never stands in for a secret other than the one it
  // was earned with (a /connect with a new or wrong secret takes the slow path and its answer).
  const key = `${withTrailingSlashless(endpoint)}\n${request.olmId}\n${request.secret}`;
  while (true) {
    const resumeToken = resumeTokens.get(key);
    const attempt = await loginOnce(
      endpoint,
      resumeToken ? { ...request, resumeToken } : request,
      Math.max(1, deadline - Date.now()),
      via,
    );
    if ("token" in attempt) {
      const { resumeToken: next, ...result } = attempt;
      if (next) resumeTokens.set(key, next);
      return result;
    }
    const waitMs = retryDelayMs(attempt.retryAfter, random);
    if (Date.now() + waitMs >= deadline) {
      throw new LoginBusy(waitMs, `the hub is busy: ${attempt.message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

type Attempt =
  | (LoginResult & { resumeToken?: string })
  | { retryAfter: string | null; message: string };

/**
 * One login request. A fresh HTTP client per call makes every attempt resolve the host again
 * and open a new connection (a pooled one could still point at an address the name no
 * longer has).
 */
async function loginOnce(
  endpoint: string,
  request: LoginRequest,
  timeoutMs: number,
  via: HubClientSettings,
): Promise<Attempt> {
  const url = new URL(LOGIN_PATH, withTrailingSlashless(endpoint));
  const client = hubHttpClient(via.tls, via.proxy);
  try {
    const response = await fetch(url, {
      method: "POST",
      client,
      headers: { "content-type": "application/json", [CSRF_HEADER]: CSRF_VALUE },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: Partial<LoginResponse> | undefined;
    try {
      body = JSON.parse(text);
    } catch { /* reported below by status */ }
    const message = typeof body?.message === "string" && body.message
      ? body.message
      : `login failed with HTTP ${response.status}`;
    if (response.status === 401 || response.status === 403) {
      throw new LoginRefused(response.status, message);
    }
    if (response.status === 429) {
      return { retryAfter: response.headers.get("retry-after"), message };
    }
    const token = body?.data?.token;
    if (!response.ok || typeof token !== "string" || !token) {
      throw new Error(`login failed with HTTP ${response.status}: ${message}`);
    }
    const resumeToken = body?.data?.resumeToken;
    const node = body?.data?.exitNodes?.[0];
    const exitNode = node && typeof node.publicKey === "string" &&
        typeof node.endpoint === "string" && Number.isInteger(node.relayPort)
      ? { publicKey: node.publicKey, endpoint: node.endpoint, relayPort: node.relayPort }
      : undefined;
    return {
      token,
      serverVersion: String(body?.data?.serverVersion ?? ""),
      ...(exitNode ? { exitNode } : {}),
      ...(typeof resumeToken === "string" && resumeToken ? { resumeToken } : {}),
    };
  } finally {
    client.close();
  }
}

/** The WebSocket URL for `endpoint` and `token`: only the endpoint's host (and scheme) count. */
export function webSocketUrl(endpoint: string, wsPath: string, token: string): string {
  const base = new URL(endpoint);
  const scheme = base.protocol === "https:" ? "wss:" : "ws:";
  const url = new URL(`${scheme}//${base.host}${wsPath}`);
  url.searchParams.set("token", token);
  url.searchParams.set("clientType", "olm");
  return url.toString();
}

function withTrailingSlashless(endpoint: string): string {
  return endpoint.replace(/\/+$/, "");
}
