// The test's side of sd_notify: a Unix datagram socket a burrow process is pointed at through
// NOTIFY_SOCKET, keeping every KEY=VALUE it receives in order.

import { waitFor } from "../_support/netns.ts";

export class NotifyListener {
  /** Every datagram received so far, each as its KEY=VALUE lines. */
  readonly messages: Record<string, string>[] = [];
  readonly #socket: Deno.DatagramConn;
  readonly #done: Promise<void>;

  constructor(readonly path: string) {
    const socket = Deno.listenDatagram({ transport: "unixpacket", path });
    this.#socket = socket;
    this.#done = (async () => {
      try {
        for await (const [bytes] of socket) {
          const fields: Record<string, string> = {};
          for (const line of new TextDecoder().decode(bytes).split("\n")) {
            const eq = line.indexOf("=");
            if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
          }
          this.messages.push(fields);
        }
      } catch {
        // Closed.
      }
    })();
  }

  /** The environment that points a child at this socket. */
  env(watchdogUsec?: number): Record<string, string> {
    return {
      NOTIFY_SOCKET: this.path,
      ...(watchdogUsec ? { WATCHDOG_USEC: String(watchdogUsec) } : {}),
    };
  }

  /** Every value of `key` received so far, in order. */
  values(key: string): string[] {
    return this.messages.filter((m) => key in m).map((m) => m[key]);
  }

  /** Waits until some message satisfies `match`; returns it. */
  async next(
    what: string,
    match: (fields: Record<string, string>) => boolean,
    timeoutMs = 20_000,
  ): Promise<Record<string, string>> {
    let found: Record<string, string> | undefined;
    await waitFor(what, () => (found = this.messages.find(match)) !== undefined, timeoutMs);
    return found!;
  }

  async close(): Promise<void> {
    this.#socket.close();
    await this.#done;
    await Deno.remove(this.path).catch(() => {});
  }
}
