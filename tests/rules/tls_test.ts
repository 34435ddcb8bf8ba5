// Port 443 on loopback: a custom certificate (`ca` + `privateKey`) terminated by the agent with
// the PROXY header's client kept, `tls` passthrough to a destination that does its own TLS, a
// bad certificate refused by the API (unreadable, not covering the domain, or with another
// key), TLS alerts for names without TLS here, and the renewal rule.

import { assert, assertEquals, assertRejects, assertStringIncludes } from "../_support/assert.ts";
import { makeCaSignedCertificate } from "../_support/certificates.ts";
import net from "node:net";
import tls from "node:tls";
import { run } from "../_support/netns.ts";
import { freePort } from "../_support/ports.ts";
import { formatIp } from "../../src/net/ip.ts";
import { TlsTerminators } from "../../src/rules/tls_terminator.ts";
import type { HttpsRule } from "../../src/protocol/mod.ts";
import { needsRenewal } from "../../src/rules/certificates.ts";
import { nameCovers } from "../../src/rules/x509.ts";
import { TLS_ALERT, tlsAlert } from "../../src/net/tls_client_hello.ts";
import { RuleError } from "../../src/protocol/mod.ts";
import { readAll, relayedConnect, startEngine } from "./_fixtures.ts";

/**
 * A server certificate for `name` and the test CA that signed it, as PEM text. (A self-signed
 * certificate would do, but openssl marks those CA:TRUE and rustls refuses a CA as end entity.)
 */
async function signedCertificate(
  dir: string,
  name: string,
  ...more: string[]
): Promise<{ cert: string; key: string; root: string }> {
  const files = await makeCaSignedCertificate(dir, [name, ...more]);
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

Deno.test("a custom certificate must cover the site's domain and come with its own key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "brl-cover-" });
  const fixture = await startEngine();
  try {
    await Deno.mkdir(`${dir}/other`);
    await Deno.mkdir(`${dir}/wild`);
    await Deno.mkdir(`${dir}/cn`);
    const other = await signedCertificate(`${dir}/other`, "other.example.com");
    const wild = await signedCertificate(`${dir}/wild`, "*.example.com", "example.net");
    const refused = async (domain: string, cert: string, key: string, says: string) => {
      const error = await assertRejects(
        () =>
          fixture.engine.create({
            https: [{ domain, secure: true, webRoot: "/tmp", ca: cert, privateKey: key }],
          }),
        RuleError,
      );
      assertEquals(error.kind, "invalid", error.message);
      assertStringIncludes(error.message, `https[0] (${domain})`);
      assertStringIncludes(error.message, says);
      assert(!error.message.includes("PRIVATE KEY"), "no key material in errors");
    };
    await refused(
      "app.example.com",
      other.cert,
      other.key,
      "the certificate does not cover app.example.com: it is for other.example.com",
    );
    // A wildcard stands for exactly one label.
    await refused("a.b.example.com", wild.cert, wild.key, "does not cover a.b.example.com");
    await refused("example.com", wild.cert, wild.key, "does not cover example.com");
    // The right names with somebody else's key.
    await refused(
      "other.example.com",
      other.cert,
      wild.key,
      "the private key does not belong to the certificate",
    );
    assertEquals(fixture.engine.rules().https, [], "nothing was stored");

    await fixture.engine.create({
      https: [
        { domain: "app.example.com", secure: true, webRoot: "/tmp", ...pem(wild) },
        { domain: "example.net", secure: true, webRoot: "/tmp", ...pem(wild) },
        { domain: "other.example.com", secure: true, webRoot: "/tmp", ...pem(other) },
      ],
    });
    assertEquals(fixture.engine.rules().https.length, 3);
    // Update is checked the same way, and a refusal leaves the stored rule alone.
    const error = await assertRejects(
      () =>
        fixture.engine.update({
          https: [{ domain: "example.net", secure: true, webRoot: "/tmp", ...pem(other) }],
        }),
      RuleError,
    );
    assertStringIncludes(error.message, "does not cover example.net");
    assertEquals(
      fixture.engine.rules().https.find((r) => r.domain === "example.net")?.ca,
      wild.cert,
    );

    // Without subjectAltName DNS names the subject's CN counts.
    await run([
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/cn/key.pem`,
      "-out",
      `${dir}/cn/cert.pem`,
      "-days",
      "1",
      "-subj",
      "/CN=cn.example.org",
    ]);
    await refused(
      "www.example.org",
      `${dir}/cn/cert.pem`,
      `${dir}/cn/key.pem`,
      "it is for cn.example.org",
    );
  } finally {
    await fixture.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function pem(pair: { cert: string; key: string }): { ca: string; privateKey: string } {
  return { ca: pair.cert, privateKey: pair.key };
}

Deno.test("nameCovers() follows RFC 6125: exact names and one-label left-most wildcards", () => {
  const cases: [string, string, boolean][] = [
    ["app.example.com", "app.example.com", true],
    ["APP.Example.com.", "app.example.com", true],
    ["*.example.com", "app.example.com", true],
    ["*.example.com", "example.com", false],
    ["*.example.com", "a.b.example.com", false],
    ["a*.example.com", "ab.example.com", false],
    ["*.com", "example.com", false],
    ["app.*.com", "app.example.com", false],
    ["*.*.example.com", "a.b.example.com", false],
    ["other.example.com", "app.example.com", false],
  ];
  for (const [name, domain, covers] of cases) {
    assertEquals(nameCovers(name, domain), covers, `${name} for ${domain}`);
  }
});

/** The ClientHello Deno's TLS client sends for `name` (captured on a plain listener). */
async function clientHello(name: string): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port })
    .then((raw) => Deno.startTls(raw, { hostname: name }))
    .catch(() => null);
  const conn = await listener.accept();
  const buffer = new Uint8Array(16 * 1024);
  const n = await conn.read(buffer);
  conn.close();
  listener.close();
  (await client)?.close();
  return buffer.slice(0, n ?? 0);
}

Deno.test("TLS for a name without TLS here is answered with an alert, not a bare close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "brl-alert-" });
  const fixture = await startEngine();
  try {
    const pair = await signedCertificate(dir, "fw.example.com");
    await fixture.engine.create({
      https: [
        { domain: "plain.example.com", webRoot: "/tmp" },
        {
          domain: "fw.example.com",
          secure: true,
          webRoot: "/tmp",
          ...pem(pair),
          firewall: [{ sequence: 1, action: "allow", network: "198.51.100.1/32" }],
        },
      ],
    });
    const answer = async (name: string, client = "198.51.100.1") => {
      const conn = await relayedConnect(fixture.https, client, await clientHello(name));
      try {
        return [...await readAll(conn)];
      } finally {
        conn.close();
      }
    };
    const unrecognized = [...tlsAlert(TLS_ALERT.unrecognizedName)];
    assertEquals(await answer("plain.example.com"), unrecognized, "a site that is not secure");
    assertEquals(await answer("nobody.example.com"), unrecognized, "an unknown name");
    assertEquals(
      await answer("fw.example.com", "198.51.100.2"),
      [...tlsAlert(TLS_ALERT.accessDenied)],
      "refused by the firewall",
    );
    const garbage = await relayedConnect(
      fixture.https,
      "198.51.100.1",
      "\x16\x03\x01\x00\x05hello",
    );
    assertEquals([...await readAll(garbage)], unrecognized, "not a ClientHello");
    garbage.close();
  } finally {
    await fixture.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A TLS request for `name` from `localAddress:localPort` to 127.0.0.1:`port`; the answer. */
function tlsRequestFrom(
  localAddress: string,
  localPort: number,
  port: number,
  name: string,
  ca: string,
): Promise<string> {
  return new Promise((resolve) => {
    let received = "";
    const raw = net.createConnection({ host: "127.0.0.1", port, localAddress, localPort }, () => {
      const secure = tls.connect({ socket: raw, servername: name, ca }, () => {
        secure.write(`GET / HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`);
      });
      secure.on("data", (chunk: Uint8Array) => received += new TextDecoder().decode(chunk));
      secure.on("error", () => {});
      secure.on("close", () => resolve(received));
    });
    raw.on("error", () => resolve(received));
  });
}

Deno.test("the TLS terminator gives the announced client only to the ingress's own address", async () => {
  const dir = await Deno.makeTempDir({ prefix: "brl-announce-" });
  const pair = await signedCertificate(dir, "t.example.com");
  const seen: string[] = [];
  const site = {
    rule: {} as HttpsRule,
    allows: (ip: Uint8Array) => {
      seen.push(formatIp(ip));
      return false;
    },
    upstream: null,
  };
  const terminators = new TlsTerminators({
    site: (domain) => domain === "t.example.com" ? site : undefined,
    acmeChallenge: () => undefined,
  });
  try {
    terminators.set("t.example.com", pair);
    const port = terminators.port("t.example.com")!;
    const ingressPort = freePort();
    terminators.expect(ingressPort, { address: "198.51.100.7", port: 40000 });
    // Another local process, from another loopback address but the same port: itself.
    const other = await tlsRequestFrom("127.0.0.2", ingressPort, port, "t.example.com", pair.root);
    assertStringIncludes(other, "HTTP/1.1 403");
    assertEquals(seen, ["127.0.0.2"]);
    // The ingress's own connection gets the client it announced.
    await tlsRequestFrom("127.0.0.1", ingressPort, port, "t.example.com", pair.root);
    assertEquals(seen, ["127.0.0.2", "198.51.100.7"]);
  } finally {
    await terminators.close();
    await Deno.remove(dir, { recursive: true });
  }
});
