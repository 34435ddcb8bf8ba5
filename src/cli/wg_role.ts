// `burrow wg IFNAME`: a userspace WireGuard device managed with wg(8), a drop-in for wireguard-go:
// creates the interface and its UAPI socket (or takes them from WG_TUN_FD and WG_UAPI_FD),
// detaches once ready (unless -f, --foreground or WG_PROCESS_FOREGROUND=1), and exits when told
// to, when the interface is deleted (in whatever namespace it was moved to) or when its UAPI socket
// is removed, removing what it created. Exit codes are wireguard-go's: 0 set up, 1 setup failed
// (burrow's 2 stays for a command line it cannot parse).

import { UsageError } from "./flags.ts";
import type { Flags } from "./flags.ts";
import type { Role } from "./role.ts";
import { log } from "../log/mod.ts";
import { adoptTun, isValidInterfaceName, startDevice } from "../tun/mod.ts";
import { LOG_FLAGS } from "./flags.ts";
import { VERSION } from "../version.ts";

/** wireguard-go's exit codes. */
export const EXIT_SETUP_SUCCESS = 0;
export const EXIT_SETUP_FAILED = 1;

/** wireguard-go's environment: run in the foreground, and descriptors handed down by a parent. */
const FOREGROUND_ENV = "WG_PROCESS_FOREGROUND";
const TUN_FD_ENV = "WG_TUN_FD";
const UAPI_FD_ENV = "WG_UAPI_FD";

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

/** A descriptor number from the environment, as wireguard-go parses it (a uint32). */
function inheritedFd(variable: string): number | undefined {
  const text = Deno.env.get(variable);
  if (text === undefined || text === "") return undefined;
  if (!/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) {
    throw new Error(`invalid ${variable} ${JSON.stringify(text)}: expected a descriptor number`);
  }
  return Number(text);
}

async function runForeground(requested: string): Promise<number> {
  let device;
  let name = requested;
  try {
    const tunFd = inheritedFd(TUN_FD_ENV);
    const uapiFd = inheritedFd(UAPI_FD_ENV);
    // As wireguard-go: an inherited TUN names the interface, whatever IFNAME said.
    if (tunFd !== undefined) name = adoptTun(tunFd);
    device = await startDevice({ name, uapi: true }, { generateKey: false, tunFd, uapiFd });
  } catch (error) {
    log.error("cannot create the device", { interface: name, error: String(error) });
    if (Deno.env.get(READY_ENV)) {
      await Deno.stdout.write(new TextEncoder().encode(`${String(error)}\n`));
    }
    return EXIT_SETUP_FAILED;
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
  return EXIT_SETUP_SUCCESS;
}

/** `burrow wg --version`, worded like wireguard-go's. */
function versionText(): string {
  return `burrow wg v${VERSION}\n\nUserspace WireGuard daemon for ${Deno.build.os}-${Deno.build.arch}` +
    ` (a drop-in for wireguard-go).\n`;
}

export const wgRole: Role = {
  name: "wg",
  summary: "run a userspace WireGuard interface managed with wg(8), like wireguard-go",
  synopsis: "burrow wg [-f/--foreground] IFNAME",
  description: "Creates the TUN interface IFNAME and its UAPI socket in /var/run/wireguard, then " +
    "detaches. As wireguard-go: WG_PROCESS_FOREGROUND=1 stays in the foreground, WG_TUN_FD and " +
    "WG_UAPI_FD hand over an open TUN and a listening UAPI socket, exit code 1 means setup failed. " +
    "The interface may be moved to another namespace; the process and its sockets stay here.",
  flags: [
    {
      name: "foreground",
      short: "f",
      type: "boolean",
      description: "stay in the foreground instead of detaching (or WG_PROCESS_FOREGROUND=1)",
    },
    { name: "version", type: "boolean", description: "print the version and exit" },
    {
      ...LOG_FLAGS.find((spec) => spec.name === "log-level")!,
      choices: ["debug", "info", "warn", "error", "verbose", "silent"],
      description: "least severe level printed: debug, info, warn or error, or wireguard-go's " +
        "verbose (debug), error and silent",
    },
  ],
  async run(flags: Flags) {
    if (flags.boolean("version")) {
      await Deno.stdout.write(new TextEncoder().encode(versionText()));
      return EXIT_SETUP_SUCCESS;
    }
    const [name, ...extra] = flags.positionals;
    if (name === undefined) throw new UsageError("missing IFNAME (burrow wg [-f] IFNAME)");
    if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
    if (!isValidInterfaceName(name)) {
      // wireguard-go fails the setup (exit 1) for a name the kernel refuses.
      log.error("cannot create the device", {
        interface: name,
        error: "invalid interface name: 1-15 characters of letters, digits and _.=+-",
      });
      return EXIT_SETUP_FAILED;
    }
    const foreground = flags.boolean("foreground") || Deno.env.get(FOREGROUND_ENV) === "1";
    return foreground ? runForeground(name) : detach(name, flags);
  },
};
