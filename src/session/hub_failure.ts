// Why the hub could not be reached, in words an operator can act on: Deno's fetch reports every
// connection failure as "fetch failed" and keeps the reason in `error.cause`'s text, so this
// file reads that text (and the timeout's DOMException) and names what failed: connection
// refused, DNS, the hub's certificate, TLS, a timeout, a reset, no route.

import { HubNameUnresolved } from "./hub_route.ts";

/** What went wrong on the way to the hub; `reached` is false when no byte reached it. */
export interface HubFailure {
  kind:
    | "refused"
    | "dns"
    | "certificate"
    | "tls"
    | "timeout"
    | "reset"
    | "unreachable"
    | "other";
  /** One line naming the hub's address and what failed; never a secret (no URL query). */
  message: string;
  /** False when the failure happened before the hub saw a request (cheap to retry). */
  reached: boolean;
}

const CERTIFICATE_REASONS: [RegExp, string][] = [
  [/UnknownIssuer/i, "it is not signed by a trusted CA"],
  [/NotValidForName|certificate not valid for name/i, "it does not name this host"],
  [/Expired/i, "it has expired"],
  [/NotValidYet/i, "it is not valid yet"],
  [/CaUsedAsEndEntity/i, "it is a CA certificate, not a server certificate"],
  [/Revoked/i, "it is revoked"],
  [/BadSignature/i, "its signature is invalid"],
];

/**
 * Names the failure of one request to `endpoint` (the hub URL).
 *
 * @param timeoutMs the request's timeout, quoted when it expired
 */
export function describeHubFailure(
  error: unknown,
  endpoint: string,
  timeoutMs?: number,
): HubFailure {
  const where = hubAddress(endpoint);
  const name = error instanceof Error || error instanceof DOMException ? error.name : "";
  if (name === "TimeoutError") {
    const after = timeoutMs === undefined
      ? ""
      : ` within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}`;
    return {
      kind: "timeout",
      message: `no answer from the hub at ${where}${after}`,
      reached: false,
    };
  }
  if (error instanceof HubNameUnresolved) {
    return { kind: "dns", message: `${error.message} (hub ${where})`, reached: false };
  }
  // Only fetch's own failures are about the connection; a refusal or a bad answer says itself.
  if (!(error instanceof TypeError)) {
    return { kind: "other", message: causeText(error), reached: true };
  }
  const text = causeText(error);
  const fail = (kind: HubFailure["kind"], what: string, reached = false): HubFailure => ({
    kind,
    message: `${what} (hub ${where})`,
    reached,
  });
  if (/connection refused/i.test(text)) return fail("refused", "connection refused");
  if (/dns error|failed to lookup address|name or service not known|no such host/i.test(text)) {
    return fail("dns", `cannot resolve ${hostOf(endpoint)} (DNS)`);
  }
  const alert = /(?:received )?fatal alert: ?(\w+)/i.exec(text);
  if (alert) {
    return fail("tls", `the hub refused the TLS handshake (${alert[1]}: a client certificate?)`);
  }
  if (/invalid peer certificate|certificate/i.test(text)) {
    const reason = CERTIFICATE_REASONS.find(([pattern]) => pattern.test(text))?.[1] ??
      "it is not trusted";
    return fail("certificate", `the hub's TLS certificate was refused: ${reason}`);
  }
  if (/corrupt message|InvalidContentType|tls|handshake/i.test(text)) {
    return fail("tls", "TLS handshake failed (does the hub speak TLS on that port?)");
  }
  if (/timed out/i.test(text)) return fail("timeout", "connection timed out");
  if (/connection reset|broken pipe|connection closed/i.test(text)) {
    return fail("reset", "the hub closed the connection", true);
  }
  if (/network is unreachable|no route to host|host is unreachable/i.test(text)) {
    return fail("unreachable", "no route to the hub");
  }
  const detail = text.replace(/^error sending request for url \([^)]*\): /, "");
  return { kind: "other", message: detail || "the hub cannot be reached", reached: true };
}

/** The message of `error` and of each of its causes, joined. */
function causeText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}

function hubAddress(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    return `${url.hostname}:${port}`;
  } catch {
    return "(bad endpoint)";
  }
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).hostname;
  } catch {
    return "(bad endpoint)";
  }
}
