// Issue #13 item 14: a failed login names what failed (refused, DNS, certificate, TLS,
// timeout) instead of Deno's bare "fetch failed". Real fetches against local servers.
import { assertEquals, assertStringIncludes } from "../_support/assert.ts";
import { makeSelfSignedCertificate } from "../_support/certificates.ts";
import { freePort } from "../_support/ports.ts";
import { describeHubFailure } from "../../src/session/hub_failure.ts";
import { login } from "../../src/session/login.ts";

async function failureOf(endpoint: string, timeoutMs = 5000) {
  try {
    await login(endpoint, { olmId: "a", secret: "never-shown-secret" }, timeoutMs);
  } catch (error) {
    return describeHubFailure(error, endpoint, timeoutMs);
  }
  throw new Error("the login did not fail");
}

Deno.test("describeHubFailure: connection refused names the hub's address", async () => {
  const port = freePort();
  const failure = await failureOf(`http://127.0.0.1:${port}`);
  assertEquals([failure.kind, failure.reached], ["refused", false]);
  assertEquals(failure.message, `connection refused (hub 127.0.0.1:${port})`);
});

Deno.test("describeHubFailure: a name that does not resolve is DNS", async () => {
  const failure = await failureOf("https://no-such-hub.invalid");
  assertEquals(failure.kind, "dns");
  assertStringIncludes(failure.message, "cannot resolve no-such-hub.invalid (DNS)");
});

Deno.test("describeHubFailure: an untrusted certificate and a non-TLS port", async () => {
  const { cert, key } = await makeSelfSignedCertificate(["localhost"]);
  const tls = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response("no"),
  );
  const plain = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const garbage = (async () => {
    for await (const conn of plain) {
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\nnot tls")).catch(() => {});
      conn.close();
    }
  })();
  try {
    const cert = await failureOf(`https://localhost:${tls.addr.port}`);
    assertEquals(cert.kind, "certificate");
    assertStringIncludes(cert.message, "the hub's TLS certificate was refused");
    const port = (plain.addr as Deno.NetAddr).port;
    const notTls = await failureOf(`https://127.0.0.1:${port}`);
    assertEquals(notTls.kind, "tls", notTls.message);
  } finally {
    await tls.shutdown();
    plain.close();
    await garbage.catch(() => {});
  }
});

Deno.test("describeHubFailure: a hub that never answers is a timeout", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accept = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    const failure = await failureOf(`http://127.0.0.1:${port}`, 300);
    assertEquals(failure.kind, "timeout");
    assertEquals(failure.message, `no answer from the hub at 127.0.0.1:${port} within 300 ms`);
  } finally {
    silent.close();
    for (const conn of held) conn.close();
    await accept.catch(() => {});
  }
});

Deno.test("describeHubFailure: other errors keep their own message", () => {
  const failure = describeHubFailure(new Error("login failed with HTTP 503: down"), "http://h");
  assertEquals([failure.kind, failure.message], ["other", "login failed with HTTP 503: down"]);
});
