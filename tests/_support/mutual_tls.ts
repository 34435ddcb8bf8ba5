// Certificates for mutual TLS tests, made with openssl: a CA with a server certificate it
// signs (./certificates.ts), client certificates that CA signs (as one PEM file holding
// certificate and key, and as PKCS#12 with an empty password), and a client certificate from
// another CA that the server must refuse.

import { type MutualTlsFront, startMutualTlsFront } from "../../src/hub/mutual_tls_front.ts";
import { type CaSignedFiles, makeCaSignedCertificate, signWithCa } from "./certificates.ts";
import { run } from "./netns.ts";

export interface MutualTlsFiles extends CaSignedFiles {
  /** A client certificate the CA signed and its key, in one PEM file. */
  clientPem: string;
  /** The same certificate and key as PKCS#12 with an empty password. */
  clientP12: string;
  /** A client certificate and key from a CA the server does not trust, in one PEM file. */
  strangerPem: string;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function signClient(dir: string, name: string, caFile: string, caKey: string) {
  const key = `${dir}/${name}.key`, csr = `${dir}/${name}.csr`, cert = `${dir}/${name}.crt`;
  await run(["openssl", "req", ...EC_KEY, "-keyout", key, "-out", csr, "-subj", `/CN=${name}`]);
  await signWithCa(
    csr,
    { caFile, caKey },
    cert,
    "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
  );
  const pem = `${dir}/${name}.pem`;
  await Deno.writeTextFile(pem, (await Deno.readTextFile(cert)) + (await Deno.readTextFile(key)));
  return { pem, cert, key };
}

/** Writes every file into `dir`; the server certificate is for `names`. */
export async function makeMutualTlsFiles(dir: string, names: string[]): Promise<MutualTlsFiles> {
  const server = await makeCaSignedCertificate(dir, names);
  const client = await signClient(dir, "agent", server.caFile, `${dir}/ca.key`);
  const clientP12 = `${dir}/agent.p12`;
  await run([
    "openssl",
    "pkcs12",
    "-export",
    "-in",
    client.cert,
    "-inkey",
    client.key,
    "-out",
    clientP12,
    "-passout",
    "pass:",
  ]);
  const other = `${dir}/other`;
  await Deno.mkdir(other);
  const otherCa = await makeCaSignedCertificate(other, ["other.test"]);
  const stranger = await signClient(other, "stranger", otherCa.caFile, `${other}/ca.key`);
  return { ...server, clientPem: client.pem, clientP12, strangerPem: stranger.pem };
}

/**
 * The hub's mutual-TLS front on a free loopback port with `files`' certificate, key and CA,
 * handing connections to the control listener's Unix socket `backendPath`.
 */
export async function startLoopbackFront(
  files: MutualTlsFiles,
  backendPath: string,
  options: { handshakeTimeoutMs?: number } = {},
): Promise<MutualTlsFront> {
  return await startMutualTlsFront({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(files.certFile),
    key: await Deno.readTextFile(files.keyFile),
    clientCa: await Deno.readTextFile(files.caFile),
    backendPath,
    ...options,
  });
}
