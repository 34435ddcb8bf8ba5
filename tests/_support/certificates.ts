// Test certificates made with openssl (EC P-256, valid a day): a self-signed one for a few
// names, or a test CA with a server certificate it signs, for clients that verify against a
// root they are told to trust.

import { run } from "./netns.ts";

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** `subjectAltName` entries: IP addresses as IP, everything else as DNS names. */
function altNames(names: string[]): string {
  return names.map((name) => /^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`).join(",");
}

/** `openssl req -x509`: a new key and a self-signed certificate for `subject` with `extensions`. */
async function selfSign(
  keyFile: string,
  certFile: string,
  subject: string,
  extensions: string[],
): Promise<void> {
  await run([
    "openssl",
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "1",
    "-subj",
    subject,
    ...extensions.flatMap((extension) => ["-addext", extension]),
  ]);
}

/** A self-signed certificate for `names`, as PEM text. */
export async function makeSelfSignedCertificate(
  names: string[],
): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "bt-cert-" });
  try {
    await selfSign(`${dir}/key.pem`, `${dir}/cert.pem`, "/CN=test", [
      `subjectAltName=${altNames(names)}`,
    ]);
    return {
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export interface CaSignedFiles {
  /** The test CA's certificate, to be trusted by clients (e.g. DENO_CERT). */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A test CA and a server certificate for `names` signed by it, written as files into `dir`. */
export async function makeCaSignedCertificate(
  dir: string,
  names: string[],
): Promise<CaSignedFiles> {
  const caKey = `${dir}/ca.key`, caFile = `${dir}/ca.pem`;
  const keyFile = `${dir}/server.key`, csr = `${dir}/server.csr`, certFile = `${dir}/server.pem`;
  await selfSign(caKey, caFile, "/CN=burrow test CA", [
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await run([
    "openssl",
    "req",
    ...EC_KEY,
    "-keyout",
    keyFile,
    "-out",
    csr,
    "-subj",
    `/CN=${names[0]}`,
  ]);
  await signWithCa(
    csr,
    { caFile, caKey },
    certFile,
    `subjectAltName=${altNames(names)}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  return { caFile, certFile, keyFile };
}

/** `openssl x509 -req`: signs `csr` with the CA into `certFile` (a day), with `extensions`. */
export async function signWithCa(
  csr: string,
  ca: { caFile: string; caKey: string },
  certFile: string,
  extensions: string,
): Promise<void> {
  const extFile = `${certFile}.ext`;
  await Deno.writeTextFile(extFile, extensions);
  await run([
    "openssl",
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.caFile,
    "-CAkey",
    ca.caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "1",
    "-extfile",
    extFile,
  ]);
}
