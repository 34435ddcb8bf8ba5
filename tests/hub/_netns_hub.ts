// Shared by the hub's namespace test and benchmark: the fake agent (tests/hub/_fake_agent.ts)
// started in a namespace, a child process speaking JSON lines.

import { type ClientCredentials, DENO, hubEndpoint, REPO_ROOT } from "../_support/burrow.ts";
import { readLines } from "../_support/lines.ts";
import type { Netns } from "../_support/netns.ts";

/** A line-oriented child process: JSON events out, JSON commands in. */
export class LineProcess {
  readonly events: Record<string, unknown>[] = [];
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  #wake: (() => void)[] = [];

  constructor(readonly child: Deno.ChildProcess) {
    this.#writer = child.stdin.getWriter();
    this.#reading = (async () => {
      for await (const line of readLines(child.stdout)) {
        try {
          this.events.push(JSON.parse(line));
        } catch { /* not an event */ }
        for (const wake of this.#wake.splice(0)) wake();
      }
    })().catch(() => {});
  }

  async send(command: unknown): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
  }

  async next(
    predicate: (event: Record<string, unknown>) => boolean,
    timeoutMs = 15_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const index = this.events.findIndex(predicate);
      if (index >= 0) return this.events.splice(index, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 5000);
    await this.child.status;
    clearTimeout(timer);
    await this.#reading;
  }
}

export class FakeAgent extends LineProcess {
  #nextId = 1;
  async request(type: string, data: Record<string, unknown> = {}) {
    const requestId = `q${this.#nextId++}`;
    await this.send({ cmd: "send", frame: { type, data: { requestId, ...data } } });
    const event = await this.next((e) =>
      e.event === "frame" &&
      ((e.frame as { data?: { requestId?: string } }).data?.requestId === requestId)
    );
    return event.frame as { type: string; data: Record<string, unknown> };
  }
}

export interface FakeAgentOptions {
  /** The hub's public address (its control port is the shared HUB_CONTROL_PORT). */
  hubHost: string;
  credentials: ClientCredentials;
  /** The agent's WireGuard interface name. */
  interface: string;
  /** What its servers put in their answers ("agent=NAME"). */
  name: string;
  certFile: string;
  keyFile: string;
  /** "bare": no HTTP/TLS sites of its own, only what "forward" commands set up (benchmark). */
  mode?: "bare";
  /** The agent's WireGuard device: burrow's own, or Debian's wireguard-go. @default "wireguard-go" */
  wgDevice?: "burrow" | "wireguard-go";
}

/** Starts tests/hub/_fake_agent.ts in `ns`; stop it with {@linkcode LineProcess.stop}. */
export function startFakeAgent(ns: Netns, options: FakeAgentOptions): FakeAgent {
  const child = ns.spawn([
    DENO,
    "run",
    "-A",
    "--unstable-net",
    `${REPO_ROOT}tests/hub/_fake_agent.ts`,
    hubEndpoint(options.hubHost),
    options.credentials.id,
    options.credentials.secret,
    options.interface,
    options.name,
    options.certFile,
    options.keyFile,
    ...(options.mode ? [options.mode] : []),
  ], {
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
    env: { FAKE_AGENT_WG_DEVICE: options.wgDevice ?? "wireguard-go" },
  });
  return new FakeAgent(child);
}
