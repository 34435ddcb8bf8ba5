// Port 443 on loopback: a custom certificate (`ca` + `privateKey`) terminated by the agent with
// the PROXY header's client kept, `tls` passthrough to a destination that does its own TLS, a
// bad certificate refused by the API, and the renewal rule.

import { assertEquals, assertRejects, assertStringIncludes } from "../_support/assert.ts";
import { makeCaSignedCertificate } from "../_support/certificates.ts";
import { needsRenewal } from "../../src/rules/certificates.ts";
import { RuleError } from "../../src/protocol/mod.ts";
import { readAll, relayedConnect, startEngine } from "./_fixtures.ts";

/**
 * A server certificate for `name` and the test CA that signed it, as PEM text. (A self-signed
 * certificate would do, but openssl marks those CA:TRUE and rustls refuses a CA as end entity.)
 */
async function signedCertificate(
  dir: string,
  name: string,
): Promise<{ cert: string; key: string; root: string }> {
  const files = await makeCaSignedCertificate(dir, [name]);
  return {
    cert: await Deno.readTextFile(files.certFile),
    key: await Deno.readTextFile(files.keyFile),
    root: await Deno.readTextFile(files.caFile),
  };
}

async function httpsGet(
  port: number,
  client: string,
  name: string,
  ca: string,
  host = name,
): Promise<string> {
  const raw = await relayedConnect(port, client);
  const tls = await Deno.startTls(raw, { hostname: name, caCerts: [ca] });
  try {
    await tls.write(
      new TextEncoder().encode(`GET /t HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    return new TextDecoder().decode(await readAll(tls));
  } finally {
    try {
      tls.close();
    } catch { /* closed */ }
  }
}

Deno.test("a custom certificate terminates TLS and the PROXY client reaches the upstream", async () => {
  const dir = await Deno.makeTempDir({ prefix: "brl-tls-" });
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      Response.json({
        xff: req.headers.get("x-forwarded-for"),
        proto: req.headers.get("x-forwarded-proto"),
      }),
  );
  const fixture = await startEngine();
  try {
    const pair = await signedCertificate(dir, "custom.example.com");
    await Deno.writeTextFile(`${dir}/key-path.pem`, pair.key);
    await fixture.engine.create({
      https: [{
        domain: "custom.example.com",
        secure: true,
        destination: "127.0.0.1",
        port: upstream.addr.port,
        ca: pair.cert,
        privateKey: `${dir}/key-path.pem`,
      }],
    });
    const answer = await httpsGet(fixture.https, "198.51.100.20", "custom.example.com", pair.root);
    assertStringIncludes(answer, "HTTP/1.1 200");
    assertStringIncludes(answer, '"xff":"198.51.100.20"');
    assertStringIncludes(answer, '"proto":"https"');
    assertEquals("privateKey" in fixture.engine.rules().https[0], false);
    // Another site of the same agent cannot be reached through this certificate's connection.
    await fixture.engine.create({ https: [{ domain: "other.example.com", webRoot: "/tmp" }] });
    const fronted = await httpsGet(
      fixture.https,
      "198.51.100.20",
      "custom.example.com",
      pair.root,
      "other.example.com",
    );
    assertStringIncludes(fronted, "HTTP/1.1 421");

    const error = await assertRejects(
      () =>
        fixture.engine.create({
          https: [{
            domain: "broken.example.com",
            secure: true,
            webRoot: "/tmp",
            ca: "not a certificate",
            privateKey: pair.key,
          }],
        }),
      RuleError,
    );
    assertEquals(error.kind, "invalid");
    assertStringIncludes(error.message, "https[0] (broken.example.com)");
    assertEquals(error.message.includes("PRIVATE KEY"), false, "no key material in errors");
  } finally {
    await fixture.close();
    await upstream.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a tls port passes the encrypted stream through to the destination", async () => {
  const dir = await Deno.makeTempDir({ prefix: "brl-pass-" });
  const pair = await signedCertificate(dir, "pass.example.com");
  const backend = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pair.cert,
    key: pair.key,
    onListen: () => {},
  }, () => new Response("terminated by the destination"));
  const fixture = await startEngine();
  try {
    await fixture.engine.create({
      https: [{
        domain: "pass.example.com",
        secure: true,
        destination: "127.0.0.1",
        tls: backend.addr.port,
      }],
    });
    const answer = await httpsGet(fixture.https, "198.51.100.21", "pass.example.com", pair.root);
    assertStringIncludes(answer, "terminated by the destination");
  } finally {
    await fixture.close();
    await backend.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("needsRenewal() renews with a third of the life or 30 days left", () => {
  const day = 24 * 3600 * 1000;
  const start = Date.UTC(2030, 0, 1);
  const ninety = { notBefore: new Date(start), notAfter: new Date(start + 90 * day) };
  assertEquals(needsRenewal(ninety, start + 50 * day), false);
  assertEquals(needsRenewal(ninety, start + 61 * day), true);
  const short = { notBefore: new Date(start), notAfter: new Date(start + 3 * day) };
  assertEquals(needsRenewal(short, start + day), false);
  assertEquals(needsRenewal(short, start + 2.1 * day), true);
});
