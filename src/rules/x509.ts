// X.509 reading for site certificates: validity, names, name matching (RFC 6125) and the
// key-belongs-to-certificate check. Apart from the certificate engine because it needs
// node:crypto, whose Node layer costs about 3 MiB resident: certificates.ts loads this module
// only when a site has a certificate (tests/tun/idle_rss_bench.ts; docs/data-plane.md,
// "Memory").

import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";

/** Reads validity from a PEM chain's first certificate. @throws {TypeError} when unreadable */
export function certificateValidity(pem: string): { notBefore: Date; notAfter: Date } {
  try {
    const cert = new X509Certificate(pem);
    return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
  } catch {
    throw new TypeError("Cannot read the certificate: not a PEM X.509 certificate");
  }
}

/**
 * The DNS names a certificate is for (lower case): its subjectAltName DNS entries, or its
 * subject's CN when it has none (RFC 6125 section 6.4.4).
 */
export function certificateNames(cert: X509Certificate): string[] {
  const dns = (cert.subjectAltName ?? "").split(/,\s*/)
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4).replace(/^"(.*)"$/, "$1").trim().toLowerCase());
  if (dns.length > 0) return dns;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [cn.trim().toLowerCase()] : [];
}

/**
 * Whether a certificate's name covers `domain` (RFC 6125 section 6.4.3): equal ignoring case
 * and a final dot, or a wildcard that is the whole left-most label (`*.example.com`) standing
 * for exactly one label, under at least two more. Partial wildcards (`w*.example.com`) match
 * nothing, as browsers do.
 */
export function nameCovers(name: string, domain: string): boolean {
  const pattern = name.toLowerCase().replace(/\.$/, "");
  const host = domain.toLowerCase().replace(/\.$/, "");
  if (pattern === host) return true;
  if (!pattern.startsWith("*.")) return false;
  const suffix = pattern.slice(1);
  if (suffix.includes("*") || !suffix.slice(1).includes(".")) return false;
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, -suffix.length);
  return label !== "" && !label.includes(".");
}

/**
 * Checks that a custom certificate can serve `domain`: its names cover the domain and the
 * private key is the certificate's own.
 *
 * @throws {TypeError} naming the domain and the certificate's names (never key material)
 */
export function checkCertificateFor(domain: string, certPem: string, keyPem: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new TypeError("Cannot read the certificate: not a PEM X.509 certificate");
  }
  const names = certificateNames(cert);
  if (!names.some((name) => nameCovers(name, domain))) {
    const listed = names.length === 0
      ? "no DNS name"
      : names.slice(0, 5).join(", ") + (names.length > 5 ? ` and ${names.length - 5} more` : "");
    throw new TypeError(`the certificate does not cover ${domain}: it is for ${listed}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new TypeError("Cannot use the private key: not a PEM private key that can be read");
  }
  let matches = false;
  try {
    matches = cert.checkPrivateKey(key);
  } catch {
    // A key of another type than the certificate's: no match either.
  }
  if (!matches) {
    throw new TypeError(`the private key does not belong to the certificate for ${domain}`);
  }
}
