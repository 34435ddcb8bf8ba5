// Login to the hub (PROTOCOL.md section 1): trade the agent's id and secret for a WebSocket
// token. 401/403 are final (the session ends terminated); anything else is worth a retry.

import {
  CSRF_HEADER,
  CSRF_VALUE,
  LOGIN_PATH,
  type LoginRequest,
  type LoginResponse,
} from "../protocol/mod.ts";
import { hubHttpClient, type HubTlsMaterial } from "./hub_tls.ts";

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

/**
 * Logs in. A fresh HTTP client per call makes every attempt resolve the host again and open a
 * new connection (a pooled one could still point at an address the name no longer has).
 *
 * @param endpoint the hub URL, e.g. `https://hub.example.com`
 * @param tls a private CA and a client certificate for the hub, when configured
 * @throws {LoginRefused} on 401 or 403
 * @throws {Error} on any other failure (network, 5xx, malformed answer): transient
 */
export async function login(
  endpoint: string,
  request: LoginRequest,
  timeoutMs = 15_000,
  tls: HubTlsMaterial = {},
): Promise<LoginResult> {
  const url = new URL(LOGIN_PATH, withTrailingSlashless(endpoint));
  const client = hubHttpClient(tls);
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
    const token = body?.data?.token;
    if (!response.ok || typeof token !== "string" || !token) {
      throw new Error(`login failed with HTTP ${response.status}: ${message}`);
    }
    const node = body?.data?.exitNodes?.[0];
    const exitNode = node && typeof node.publicKey === "string" &&
        typeof node.endpoint === "string" && Number.isInteger(node.relayPort)
      ? { publicKey: node.publicKey, endpoint: node.endpoint, relayPort: node.relayPort }
      : undefined;
    return {
      token,
      serverVersion: String(body?.data?.serverVersion ?? ""),
      ...(exitNode ? { exitNode } : {}),
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
