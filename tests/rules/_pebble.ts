// Debian's pebble as the ACME server of the rules tests, on this host or inside a test's
// namespace: a test CA for its API, pebble-challtestsrv as its DNS resolving every name to one
// address, and the root pebble issues under, fetched once pebble answers.

import { makeCaSignedCertificate } from "../_support/certificates.ts";
import { curlAnswer } from "../_support/curl.ts";
import { type Netns, spawn, stopProcess, waitFor, waitForTcp } from "../_support/netns.ts";
import { freePort } from "../_support/ports.ts";

export interface PebbleOptions {
  /** Where the CA, the config and pebble's files go (the test removes it). */
  dir: string;
  /** The address challtestsrv answers for every name: where validations connect. */
  resolveTo: string;
  /** The port pebble validates HTTP-01 challenges at. */
  httpPort: number;
  /** The port pebble validates TLS-ALPN-01 challenges at. @default a free port */
  tlsPort?: number;
}

export interface Pebble {
  /** The ACME directory URL, served with the certificate of `caFile`. */
  directoryUrl: string;
  /** The test CA that signed pebble's API certificate (not the root it issues under). */
  caFile: string;
  /** The root pebble issues certificates under, as PEM text. */
  issuingRoot(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts pebble-challtestsrv and pebble in `ns` (on this host when null) on free loopback
 * ports and waits until pebble's API accepts connections. Pebble validates every challenge for
 * real (no sleeping, no always-valid) and answers every nonce.
 */
export async function startPebble(ns: Netns | null, options: PebbleOptions): Promise<Pebble> {
  const { dir, resolveTo, httpPort } = options;
  const ca = await makeCaSignedCertificate(dir, ["localhost", "127.0.0.1"]);
  const acmePort = freePort(), managementPort = freePort(), dnsPort = freePort("udp");
  await Deno.writeTextFile(
    `${dir}/pebble.json`,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: ca.certFile,
        privateKey: ca.keyFile,
        httpPort,
        tlsPort: options.tlsPort ?? freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  const start = (cmd: string[], env?: Record<string, string>) =>
    ns ? ns.spawn(cmd, { env }) : spawn(cmd, { env });
  const processes = [
    start([
      "pebble-challtestsrv",
      "-defaultIPv4",
      resolveTo,
      "-defaultIPv6",
      "",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${freePort()}`,
    ]),
    start(["pebble", "-config", `${dir}/pebble.json`, "-dnsserver", `127.0.0.1:${dnsPort}`], {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_VA_ALWAYS_VALID: "0",
      PEBBLE_WFE_NONCEREJECT: "0",
      PEBBLE_AUTHZREUSE: "0",
    }),
  ];
  const stop = async () => {
    for (const child of processes) await stopProcess(child);
  };
  try {
    await waitForTcp(ns, "127.0.0.1", acmePort, 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    directoryUrl: `https://localhost:${acmePort}/dir`,
    caFile: ca.caFile,
    issuingRoot: async () => {
      let root = "";
      await waitFor("pebble's issuing root", async () => {
        const answer = await curlAnswer(ns, [
          "--cacert",
          ca.caFile,
          `https://localhost:${managementPort}/roots/0`,
        ]);
        root = answer.body;
        return answer.status === 200 && root.includes("BEGIN CERTIFICATE");
      }, 15_000);
      return root;
    },
    stop,
  };
}
