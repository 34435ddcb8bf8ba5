// Shared by the hub's namespace test and benchmark: child processes speaking JSON lines (the
// fake agent), stopping children, and `burrow hub client add`.

import { run } from "../_support/netns.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const BURROW = `${ROOT}burrow`;
export const DENO = `${ROOT}.tools/bin/deno`;

/** A line-oriented child process: JSON events out, JSON commands in. */
export class LineProcess {
  readonly events: Record<string, unknown>[] = [];
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  #wake: (() => void)[] = [];

  constructor(readonly child: Deno.ChildProcess) {
    this.#writer = child.stdin.getWriter();
    this.#reading = (async () => {
      let pending = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        let newline;
        while ((newline = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          try {
            this.events.push(JSON.parse(line));
          } catch { /* not an event */ }
          for (const wake of this.#wake.splice(0)) wake();
        }
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

/** SIGTERM, then SIGKILL after a grace period; for children whose output is not piped. */
export async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* exited */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, 5000);
  await child.status;
  clearTimeout(timer);
}

export async function addClient(
  stateDir: string,
  name: string,
): Promise<{ id: string; secret: string }> {
  const result = await run([
    BURROW,
    "hub",
    "client",
    "add",
    "--state-dir",
    stateDir,
    "--name",
    name,
  ]);
  return JSON.parse(result.stdout);
}
