// The system resolver (getaddrinfo: /etc/hosts, nsswitch, the host's DNS) for a host name,
// as Deno exposes it only through node:dns. Loaded on the first name to resolve: most agents
// meet only IP literals, and the import starts Deno's Node DNS layer, about 1 MiB resident
// (tests/tun/idle_rss_bench.ts; docs/data-plane.md, "Memory").

/** The first address getaddrinfo gives for `host`, or null when it gives none. */
export async function systemResolve(host: string): Promise<string | null> {
  try {
    const { lookup } = await import("node:dns/promises");
    return (await lookup(host)).address;
  } catch {
    return null;
  }
}
