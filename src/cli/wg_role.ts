// `burrow wg IFNAME`: a userspace WireGuard device managed with wg(8), like wireguard-go: creates
// the interface and its UAPI socket, detaches once ready (unless -f), and exits when told to, when
// the interface is deleted or when its UAPI socket is removed, removing what it created.

import { UsageError } from "./flags.ts";
import type { Flags } from "./flags.ts";
import type { Role } from "./role.ts";
import { log } from "../log/mod.ts";
import { isValidInterfaceName, startDevice } from "../tun/mod.ts";

/** Set in the detached child; its value is the line it prints once the device is up. */
const READY_ENV = "BURROW_WG_READY_LINE";
const READY_LINE = "burrow-wg-ready";

/** The command that runs this program again: the launcher from source, or the compiled binary. */
function selfCommand(): string[] {
  const launcher = new URL("../../burrow", import.meta.url);
  if (launcher.protocol === "file:") {
    try {
      Deno.statSync(launcher);
      return [launcher.pathname];
    } catch { /* compiled: fall through */ }
  }
  return [Deno.execPath()];
}

/** Re-runs itself in the foreground, detached, and returns once the child reports ready. */
async function detach(name: string, flags: Flags): Promise<number> {
  const [program, ...prefix] = selfCommand();
  const args = [...prefix, "wg", "--foreground", `--log-level=${flags.string("log-level")}`, name];
  const child = new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    // A detached daemon keeps no terminal: it reports failure to start on stdout instead.
    stderr: "null",
    detached: true,
    env: { [READY_ENV]: READY_LINE },
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    output += decoder.decode(chunk, { stream: true });
    if (output.includes(READY_LINE)) break;
  }
  if (output.includes(READY_LINE)) {
    child.unref();
    return 0;
  }
  const status = await child.status;
  const reason = output.trim();
  log.error("the device did not come up", { code: status.code, ...(reason ? { reason } : {}) });
  return status.code === 0 ? 1 : status.code;
}

async function runForeground(name: string): Promise<number> {
  let device;
  try {
    device = await startDevice({ name, uapi: true }, { generateKey: false });
  } catch (error) {
    log.error("cannot create the device", { interface: name, error: String(error) });
    if (Deno.env.get(READY_ENV)) {
      await Deno.stdout.write(new TextEncoder().encode(`${String(error)}\n`));
    }
    return 1;
  }
  log.info("device is up", { interface: name, listenPort: device.listenPort });
  const stop = () => device.close();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  const ready = Deno.env.get(READY_ENV);
  if (ready) {
    // The parent waits for this line, then leaves; stdout is not used after it.
    await Deno.stdout.write(new TextEncoder().encode(ready + "\n"));
    Deno.stdout.close();
  }
  await device.closed;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  log.info("device closed", { interface: name });
  return 0;
}

export const wgRole: Role = {
  name: "wg",
  summary: "run a userspace WireGuard interface managed with wg(8), like wireguard-go",
  synopsis: "burrow wg [-f] IFNAME",
  description:
    "Creates the TUN interface IFNAME and its UAPI socket in /var/run/wireguard, then detaches.",
  flags: [
    {
      name: "foreground",
      short: "f",
      type: "boolean",
      description: "stay in the foreground instead of detaching",
    },
  ],
  run(flags: Flags) {
    const [name, ...extra] = flags.positionals;
    if (name === undefined) throw new UsageError("missing IFNAME (burrow wg [-f] IFNAME)");
    if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
    if (!isValidInterfaceName(name)) {
      throw new UsageError(`invalid interface name ${JSON.stringify(name)}: 1-15 characters`);
    }
    return flags.boolean("foreground") ? runForeground(name) : detach(name, flags);
  },
};
