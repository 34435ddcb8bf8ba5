// TLS towards the hub beyond the system's roots: a private CA to trust (`--hub-ca`) and a
// client certificate to present (`--tls-client-cert`, Olm's `tlsClientCert`) for both the
// login and the WebSocket. The certificate file is PEM (certificate and key in one file) or
// PKCS#12 with an empty password, as Olm's library expects; PKCS#12 is opened with
// openssl(1), whose command line carries only the file's path (the password is empty).

/** Files named on the command line or in `POST /connect`. */
export interface HubTlsFiles {
  /** PEM file of the CA(s) that sign the hub's certificate. */
  caFile?: string;
  /** PEM (certificate and key) or PKCS#12 file presented to the hub. */
  clientCertFile?: string;
}

/** What Deno.createHttpClient takes, read from those files. */
export interface HubTlsMaterial {
  caCerts?: string[];
  cert?: string;
  key?: string;
}

/** A TLS file that cannot be used; the message names the file (never its contents). */
export class HubTlsFileError extends Error {
  override name = "HubTlsFileError";
  constructor(readonly path: string, reason: string) {
    super(`Cannot use ${path}: ${reason}`);
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

/** The PEM blocks of `text`, by label (CERTIFICATE, PRIVATE KEY, EC PRIVATE KEY, ...). */
function pemBlocks(text: string): { label: string; pem: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], pem: m[0] }));
}

/** A certificate chain and its key from PEM text. */
function certAndKey(path: string, text: string): { cert: string; key: string } {
  const blocks = pemBlocks(text);
  const certs = blocks.filter((b) => b.label === "CERTIFICATE");
  const keys = blocks.filter((b) => /PRIVATE KEY$/.test(b.label));
  if (certs.length === 0) throw new HubTlsFileError(path, "no certificate in it");
  if (keys.length !== 1) {
    throw new HubTlsFileError(path, keys.length ? "more than one private key" : "no private key");
  }
  if (keys[0].label === "ENCRYPTED PRIVATE KEY") {
    throw new HubTlsFileError(path, "the private key is encrypted; an empty password is expected");
  }
  return { cert: certs.map((b) => b.pem).join("\n") + "\n", key: keys[0].pem + "\n" };
}

/** Opens a PKCS#12 file with an empty password through openssl(1). */
async function readPkcs12(path: string): Promise<{ cert: string; key: string }> {
  let last = "";
  // OpenSSL 3 needs -legacy for files made with the old (RC2, 3DES) algorithms.
  for (const extra of [[], ["-legacy"]]) {
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command("openssl", {
        args: ["pkcs12", "-in", path, "-nodes", "-passin", "pass:", ...extra],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      throw new HubTlsFileError(
        path,
        `PKCS#12 needs openssl(1), which cannot run (${(error as Error).message})`,
      );
    }
    if (output.success) return certAndKey(path, new TextDecoder().decode(output.stdout));
    last = new TextDecoder().decode(output.stderr).split("\n")[0].trim();
  }
  throw new HubTlsFileError(path, `not PEM, and not PKCS#12 with an empty password (${last})`);
}

/**
 * Reads the files. Called at every login attempt, so a renewed certificate is picked up
 * without a restart.
 *
 * @throws {HubTlsFileError} naming the file when it is missing, unreadable or holds no usable
 *   certificate and key
 */
export async function loadHubTls(files: HubTlsFiles): Promise<HubTlsMaterial> {
  const material: HubTlsMaterial = {};
  if (files.caFile) {
    const text = await readFile(files.caFile);
    const certs = pemBlocks(new TextDecoder().decode(text))
      .filter((b) => b.label === "CERTIFICATE").map((b) => b.pem + "\n");
    if (certs.length === 0) throw new HubTlsFileError(files.caFile, "no PEM certificate in it");
    material.caCerts = certs;
  }
  if (files.clientCertFile) {
    const path = files.clientCertFile;
    const bytes = await readFile(path);
    const text = new TextDecoder().decode(bytes);
    const { cert, key } = text.includes("-----BEGIN ")
      ? certAndKey(path, text)
      : await readPkcs12(path);
    material.cert = cert;
    material.key = key;
  }
  return material;
}

async function readFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new HubTlsFileError(path, reason);
  }
}

/**
 * An HTTP client for the hub: the private CA (besides the system's roots), the client
 * certificate and the route of `dns` (src/session/hub_route.ts). HTTP/1.1 only, which is what
 * Deno's WebSocket needs to present the certificate on its upgrade and to go through a proxy.
 */
export function hubHttpClient(
  material: HubTlsMaterial = {},
  proxy?: Deno.Proxy,
): Deno.HttpClient {
  if (!hasHubTls(material) && !proxy) return Deno.createHttpClient({});
  return Deno.createHttpClient({
    ...(material.caCerts ? { caCerts: material.caCerts } : {}),
    ...(material.cert && material.key ? { cert: material.cert, key: material.key } : {}),
    ...(proxy ? { proxy } : {}),
    http2: false,
  });
}

/** Whether `material` changes anything from a default client. */
export function hasHubTls(material: HubTlsMaterial): boolean {
  return Boolean(material.caCerts || material.cert);
}

/**
 * Whether `error` (a failed fetch) is the TLS handshake failing: the hub refused the client
 * certificate (or wanted one), or its certificate is not trusted.
 */
export function tlsFailureOf(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (/alert|certificate|handshake|tls/i.test(e.message)) return e.message;
    e = e.cause;
  }
  return undefined;
}
