// Certificates for secure sites: a site's own (`ca` + `privateKey`, PEM text or file paths,
// checked to cover the site's domain and to belong together) or
// one obtained from an ACME server (`useLetsEnc`) through HTTP-01, answered by the site engine
// on port 80 (the hub relays it). Issued certificates are kept in the state directory and
// renewed before they expire.

import type acmeModule from "acme-client";
import { log } from "../log/mod.ts";
import { readJsonFile, writeJsonAtomic } from "../state/mod.ts";

/** Let's Encrypt's production directory, used when no other is configured. */
export const DEFAULT_ACME_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
/** How often certificates are checked for renewal. */
export const RENEW_CHECK_INTERVAL_MS = 12 * 60 * 60 * 1000;
const RETRY_MIN_MS = 30_000;
const RETRY_MAX_MS = 60 * 60 * 1000;

export interface CertificatePair {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. Never logged or answered. */
  key: string;
  notAfter: Date;
  notBefore: Date;
}

export interface AcmeOptions {
  /** ACME directory URL. @default DEFAULT_ACME_DIRECTORY */
  directoryUrl?: string;
  /** Contact address for the ACME account. */
  email?: string;
  /** Extra CA (PEM) trusted for the ACME server's own HTTPS, e.g. pebble's. */
  caPem?: string;
}

type Timer = ReturnType<typeof setTimeout>;

// Renewal timers must not keep the process alive on their own.
function unref(timer: Timer): void {
  Deno.unrefTimer(timer as unknown as number);
}

/** Whether a certificate is due for renewal at `now`: a third of its life or 30 days left. */
export function needsRenewal(pair: { notBefore: Date; notAfter: Date }, now: number): boolean {
  const life = pair.notAfter.getTime() - pair.notBefore.getTime();
  const margin = Math.min(30 * 24 * 3600 * 1000, life / 3);
  return pair.notAfter.getTime() - now < margin;
}

/**
 * Loads a site's custom certificate for `domain`: each field is PEM text or a path to a PEM
 * file; the certificate must cover the domain and the key must be its own.
 *
 * @throws {TypeError} with a message safe to show (no key material)
 */
export async function loadCustomCertificate(
  ca: string,
  privateKey: string,
  domain: string,
): Promise<CertificatePair> {
  const read = async (value: string, what: string) => {
    if (value.includes("-----BEGIN")) return value;
    try {
      return await Deno.readTextFile(value);
    } catch {
      throw new TypeError(`Cannot read the ${what} file ${value}`);
    }
  };
  const cert = await read(ca, "certificate");
  const key = await read(privateKey, "private key");
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw new TypeError("Cannot use the private key: not a PEM private key");
  }
  const { certificateValidity, checkCertificateFor } = await import("./x509.ts");
  const validity = certificateValidity(cert);
  checkCertificateFor(domain, cert, key);
  return { cert, key, ...validity };
}

/**
 * Obtains and renews ACME certificates and answers HTTP-01 challenges while they are pending.
 */
export class AcmeCertificates {
  readonly #challenges = new Map<string, string>();
  readonly #issued = new Map<string, CertificatePair>();
  readonly #wanted = new Set<string>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #retry = new Map<string, { delay: number; timer: Timer }>();
  #renewTimer: Timer | undefined;
  #client: acmeModule.Client | null = null;
  #acme: Promise<typeof acmeModule> | null = null;
  #closed = false;

  /**
   * @param dir where certificates and the account key live (mode 0600 files)
   * @param onIssued called after a certificate for `domain` was issued or renewed
   */
  constructor(
    readonly dir: string,
    readonly options: AcmeOptions,
    readonly onIssued: (domain: string) => void,
  ) {}

  /**
   * acme-client, loaded on first use: it is the largest module of the agent (about 30 MiB
   * resident), and most agents never issue a certificate.
   */
  #library(): Promise<typeof acmeModule> {
    this.#acme ??= Promise.all([import("acme-client"), import("node:https")]).then((
      [{ default: acme }, { Agent: HttpsAgent }],
    ) => {
      // acme-client retries a failed request up to 5 times, 5 s apart and growing; this class
      // retries whole issuances with its own backoff, so one quick retry is enough here.
      const settings = (acme.axios.defaults as unknown as {
        acmeSettings?: { retryMaxAttempts: number; retryDefaultDelay: number };
      }).acmeSettings;
      if (settings) {
        settings.retryMaxAttempts = 1;
        settings.retryDefaultDelay = 1;
      }
      if (this.options.caPem) {
        // acme-client talks through axios: trust the ACME server's CA there.
        acme.axios.defaults.httpsAgent = new HttpsAgent({ ca: this.options.caPem });
      }
      return acme;
    });
    return this.#acme;
  }

  /** The key authorization for a pending HTTP-01 token. */
  challenge(token: string): string | undefined {
    return this.#challenges.get(token);
  }

  /** The current certificate of `domain`, when one was issued. */
  certificate(domain: string): CertificatePair | undefined {
    return this.#issued.get(domain);
  }

  /**
   * Makes the set of domains that want ACME certificates exactly `domains`, loading stored
   * certificates. Issuing waits for {@linkcode renewDue} (after the hub knows the domains, or
   * the ACME server's HTTP-01 request would find no route).
   */
  async want(domains: Iterable<string>): Promise<void> {
    const next = new Set(domains);
    for (const domain of [...this.#wanted]) {
      if (next.has(domain)) continue;
      this.#wanted.delete(domain);
      this.#issued.delete(domain);
      const retry = this.#retry.get(domain);
      if (retry) clearTimeout(retry.timer);
      this.#retry.delete(domain);
    }
    for (const domain of next) {
      if (this.#wanted.has(domain)) continue;
      this.#wanted.add(domain);
      const stored = await this.#load(domain);
      if (stored) this.#issued.set(domain, stored);
    }
    if (this.#renewTimer === undefined && !this.#closed) {
      this.#renewTimer = setInterval(() => this.renewDue(), RENEW_CHECK_INTERVAL_MS);
      unref(this.#renewTimer);
    }
  }

  /** Starts issuing every wanted certificate that is missing or due. */
  renewDue(now = Date.now()): void {
    for (const domain of this.#wanted) {
      const pair = this.#issued.get(domain);
      if (pair && !needsRenewal(pair, now)) continue;
      if (this.#retry.has(domain) || this.#running.has(domain)) continue;
      this.#start(domain);
    }
  }

  /** Waits for the issuances under way (tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.#running.values()]);
  }

  #start(domain: string): void {
    const run = this.#issue(domain).then(() => {
      this.#retry.delete(domain);
    }, (error) => {
      if (this.#closed || !this.#wanted.has(domain)) return;
      const delay = Math.min(
        RETRY_MAX_MS,
        (this.#retry.get(domain)?.delay ?? RETRY_MIN_MS / 2) * 2,
      );
      log.warn("certificate not issued yet; retrying", {
        domain,
        retryInSeconds: Math.round(delay / 1000),
        error: error instanceof Error ? error.message : String(error),
      });
      const timer = setTimeout(() => {
        this.#retry.delete(domain);
        if (this.#wanted.has(domain)) this.#start(domain);
      }, delay);
      unref(timer);
      this.#retry.set(domain, { delay, timer });
    }).finally(() => this.#running.delete(domain));
    this.#running.set(domain, run);
  }

  async #account(): Promise<acmeModule.Client> {
    if (this.#client) return this.#client;
    const acme = await this.#library();
    const path = `${this.dir}/account.json`;
    const stored = await readJsonFile(path) as { key?: string; directoryUrl?: string } | undefined;
    const directoryUrl = this.options.directoryUrl ?? DEFAULT_ACME_DIRECTORY;
    let key = stored?.directoryUrl === directoryUrl ? stored.key : undefined;
    if (!key) {
      key = (await acme.crypto.createPrivateEcdsaKey()).toString();
      await writeJsonAtomic(path, { directoryUrl, key });
    }
    this.#client = new acme.Client({ directoryUrl, accountKey: key });
    return this.#client;
  }

  async #issue(domain: string): Promise<void> {
    const client = await this.#account();
    const acme = await this.#library();
    const [keyBuffer, csr] = await acme.crypto.createCsr({
      commonName: domain,
      altNames: [domain],
    });
    const cert = await client.auto({
      csr,
      email: this.options.email,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      // The agent cannot reach its own public name from inside the tunnel network; the ACME
      // server's validation is the real check.
      skipChallengeVerification: true,
      challengeCreateFn: (_authz, challenge, keyAuthorization) => {
        this.#challenges.set(challenge.token, keyAuthorization);
        return Promise.resolve();
      },
      challengeRemoveFn: (_authz, challenge) => {
        this.#challenges.delete(challenge.token);
        return Promise.resolve();
      },
    });
    if (this.#closed || !this.#wanted.has(domain)) return;
    const { certificateValidity } = await import("./x509.ts");
    const pair: CertificatePair = { cert, key: keyBuffer.toString(), ...certificateValidity(cert) };
    await writeJsonAtomic(this.#file(domain), { cert: pair.cert, key: pair.key });
    this.#issued.set(domain, pair);
    log.info("certificate issued", { domain, notAfter: pair.notAfter.toISOString() });
    this.onIssued(domain);
  }

  #file(domain: string): string {
    return `${this.dir}/${domain}.json`;
  }

  async #load(domain: string): Promise<CertificatePair | undefined> {
    try {
      const stored = await readJsonFile(this.#file(domain)) as
        | { cert: string; key: string }
        | undefined;
      if (!stored?.cert || !stored.key) return undefined;
      const { certificateValidity } = await import("./x509.ts");
      return { cert: stored.cert, key: stored.key, ...certificateValidity(stored.cert) };
    } catch (error) {
      log.warn("stored certificate unreadable; issuing a new one", {
        domain,
        error: String(error),
      });
      return undefined;
    }
  }

  /** Stops timers; issuances under way finish but are discarded. */
  close(): void {
    this.#closed = true;
    if (this.#renewTimer !== undefined) clearInterval(this.#renewTimer);
    for (const retry of this.#retry.values()) clearTimeout(retry.timer);
    this.#retry.clear();
  }
}
