// systemd's service notification protocol (sd_notify(3)): newline-separated KEY=VALUE datagrams
// to the Unix socket named by $NOTIFY_SOCKET ("@name" is an abstract socket). Used by both
// roles for Type=notify: READY=1 once listening, STATUS= as things change, WATCHDOG=1 while
// $WATCHDOG_USEC asks for it. Needs Deno's --unstable-net (the launcher passes it).

import { log } from "../log/mod.ts";

/** How often the status line is looked at when no watchdog asks for more. */
const STATUS_POLL_MS = 1000;

/** One notification socket; every send is one datagram. */
export class SdNotifier {
  readonly #socket: Deno.DatagramConn;
  readonly #target: Deno.UnixAddr;
  /** Half of $WATCHDOG_USEC in ms (systemd's advice), or undefined without a watchdog. */
  readonly watchdogIntervalMs: number | undefined;

  private constructor(socket: Deno.DatagramConn, path: string, watchdogIntervalMs?: number) {
    this.#socket = socket;
    this.#target = { transport: "unix", path };
    this.watchdogIntervalMs = watchdogIntervalMs;
  }

  /**
   * The notifier $NOTIFY_SOCKET asks for, or null when it is unset (not run by systemd) or
   * this Deno lacks unix datagrams (logged once).
   */
  static fromEnv(
    env: (name: string) => string | undefined = (n) => Deno.env.get(n),
  ): SdNotifier | null {
    const raw = env("NOTIFY_SOCKET");
    if (!raw) return null;
    const path = raw.startsWith("@") ? `\0${raw.slice(1)}` : raw;
    let socket: Deno.DatagramConn;
    try {
      // An empty path autobinds an abstract address: the sender needs no file of its own.
      socket = Deno.listenDatagram({ transport: "unixpacket", path: "" });
    } catch (error) {
      log.warn("cannot notify systemd", { error: (error as Error).message });
      return null;
    }
    return new SdNotifier(socket, path, watchdogInterval(env));
  }

  /** Sends `fields` as one datagram; a failure is logged, never thrown (systemd may be gone). */
  async send(fields: Record<string, string>): Promise<void> {
    const text = Object.entries(fields).map(([key, value]) => `${key}=${oneLine(value)}`)
      .join("\n");
    try {
      await this.#socket.send(new TextEncoder().encode(text), this.#target);
    } catch (error) {
      log.debug("sd_notify failed", { error: (error as Error).message });
    }
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * $WATCHDOG_USEC / 2 in ms when it is set for this process: $WATCHDOG_PID, when set, is us or
 * our parent (the agent's update hand-off runs a newer burrow as a child that does the service's
 * work while the parent only relays signals; the units say NotifyAccess=all for it).
 */
function watchdogInterval(env: (name: string) => string | undefined): number | undefined {
  const usec = Number(env("WATCHDOG_USEC"));
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const pid = env("WATCHDOG_PID");
  if (pid && Number(pid) !== Deno.pid && Number(pid) !== Deno.ppid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, " ");
}

/** What {@linkcode startServiceNotify} returns: stops the ticks and says STOPPING=1. */
export interface ServiceNotify {
  stop(): Promise<void>;
}

/**
 * Tells systemd the service is ready, then keeps it informed: `STATUS=` each time
 * `statusLine()` changes (looked at every second, or every watchdog tick when that is sooner)
 * and `WATCHDOG=1` every $WATCHDOG_USEC/2. Without $NOTIFY_SOCKET it does nothing.
 *
 * @param statusLine one human line about the service's state, e.g. "connected to hub"
 */
export async function startServiceNotify(
  statusLine: () => string,
  env?: (name: string) => string | undefined,
): Promise<ServiceNotify> {
  const notifier = SdNotifier.fromEnv(env);
  if (!notifier) return { stop: () => Promise.resolve() };
  let last = statusLine();
  await notifier.send({ READY: "1", STATUS: last });
  const watchdogMs = notifier.watchdogIntervalMs;
  if (watchdogMs !== undefined) await notifier.send({ WATCHDOG: "1" });
  let lastWatchdog = Date.now();
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const line = statusLine();
      if (line !== last) {
        last = line;
        await notifier.send({ STATUS: line });
      }
      // 0.9: a tick a little early must not push the next ping a whole tick late.
      if (watchdogMs !== undefined && Date.now() - lastWatchdog >= watchdogMs * 0.9) {
        lastWatchdog = Date.now();
        await notifier.send({ WATCHDOG: "1" });
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(tick, Math.min(STATUS_POLL_MS, watchdogMs ?? STATUS_POLL_MS));
  return {
    async stop() {
      clearInterval(timer);
      await notifier.send({ STOPPING: "1", STATUS: "stopping" });
      notifier.close();
    },
  };
}
