// ACME on loopback with Debian's pebble: a `useLetsEnc` site gets a certificate through HTTP-01
// answered on the agent's port 80 (behind a PROXY v2 front like the hub's), serves it on 443,
// renews it when due, and restores it from the state directory after a restart.

import { assert, assertNotEquals, assertStringIncludes } from "../_support/assert.ts";
import { run, waitFor } from "../_support/netns.ts";
import { readAll, relayedConnect, startEngine } from "./_fixtures.ts";
import { type Pebble, startPebble } from "./_pebble.ts";

const DOMAIN = "acme.brl.test";

async function found(tool: string): Promise<boolean> {
  return (await run(["bash", "-c", `command -v ${tool}`], { check: false })).code === 0;
}
const missing = !(await found("pebble")) || !(await found("pebble-challtestsrv")) ||
  !(await found("openssl"));
if (missing) console.log("skipping the ACME test: pebble or openssl is missing (make test-deps)");

async function tlsGet(port: number, rootPem: string): Promise<string> {
  const raw = await relayedConnect(port, "192.0.2.50");
  const tls = await Deno.startTls(raw, { hostname: DOMAIN, caCerts: [rootPem] });
  try {
    await tls.write(
      new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: close\r\n\r\n`),
    );
    return new TextDecoder().decode(await readAll(tls));
  } finally {
    try {
      tls.close();
    } catch { /* closed */ }
  }
}

Deno.test({
  name: "a useLetsEnc site gets, serves, renews and restores a certificate from pebble",
  ignore: missing,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "brl-acme-" });
    let pebble: Pebble | undefined;
    const web = `${dir}/www`;
    await Deno.mkdir(web);
    await Deno.writeTextFile(`${web}/index.html`, "acme site");
    const stateDir = `${dir}/state`;
    let fixture: Awaited<ReturnType<typeof startEngine>> | undefined;
    // pebble validates HTTP-01 by connecting here; the front adds the PROXY header like the hub.
    const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const frontPort = (front.addr as Deno.NetAddr).port;
    let ingressPort = 0;
    const frontLoop = (async () => {
      for await (const conn of front) {
        relayedConnect(ingressPort, "127.0.0.1").then((upstream) =>
          Promise.all([
            conn.readable.pipeTo(upstream.writable).catch(() => {}),
            upstream.readable.pipeTo(conn.writable).catch(() => {}),
          ])
        ).catch(() => conn.close());
      }
    })();
    try {
      pebble = await startPebble(null, { dir, resolveTo: "127.0.0.1", httpPort: frontPort });
      const acme = {
        directoryUrl: pebble.directoryUrl,
        caPem: await Deno.readTextFile(pebble.caFile),
      };
      fixture = await startEngine({ stateDir, acme });
      ingressPort = fixture.http;
      await fixture.engine.create({
        https: [{ domain: DOMAIN, secure: true, useLetsEnc: true, webRoot: web }],
      });
      const rootPem = await pebble.issuingRoot();
      await waitFor("the certificate", () => !!fixture!.engine.acmeCertificate(DOMAIN), 30_000);
      assertStringIncludes(await tlsGet(fixture.https, rootPem), "acme site");
      const first = fixture.engine.acmeCertificate(DOMAIN)!;

      // Far in the future every certificate is due: a new one replaces it.
      fixture.engine.renewCertificates(Date.now() + 10 * 365 * 24 * 3600 * 1000);
      await fixture.engine.certificatesSettled();
      const renewed = fixture.engine.acmeCertificate(DOMAIN)!;
      assertNotEquals(renewed, first);
      assertStringIncludes(await tlsGet(fixture.https, rootPem), "acme site");
      await fixture.close();
      fixture = undefined;

      // A restart serves the stored certificate without asking pebble again.
      fixture = await startEngine({ stateDir, acme });
      ingressPort = fixture.http;
      assert(fixture.engine.acmeCertificate(DOMAIN) === renewed, "restored from the state dir");
      assertStringIncludes(await tlsGet(fixture.https, rootPem), "acme site");
      const stored = await Deno.stat(`${stateDir}/certs/${DOMAIN}.json`);
      assert((stored.mode! & 0o777) === 0o600, "certificate files are 0600");
    } finally {
      await fixture?.close();
      front.close();
      await frontLoop.catch(() => {});
      await pebble?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
