// dnsmasq as a test's DNS server: in a namespace, on one address, answering only the names it
// is given (no upstream, no hosts file), until the test stops it.

import { type Netns, stopProcess, waitForTcp } from "./netns.ts";

/**
 * Starts dnsmasq in `ns` listening on `address` (UDP and TCP 53), answering each name of
 * `records` (and its subdomains) with its address; waits until it accepts (one that does
 * not is stopped and the wait's error thrown).
 */
export async function startDnsmasq(
  ns: Netns,
  address: string,
  records: Record<string, string>,
): Promise<Deno.ChildProcess> {
  const child = ns.spawn([
    "dnsmasq",
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--pid-file=",
    "--user=root",
    "--bind-interfaces",
    `--listen-address=${address}`,
    ...Object.entries(records).map(([name, answer]) => `--address=/${name}/${answer}`),
  ]);
  try {
    await waitForTcp(ns, address, 53);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return child;
}
