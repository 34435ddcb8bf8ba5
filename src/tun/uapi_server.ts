// The UAPI socket: /var/run/wireguard/IFNAME.sock, created like wireguard-go does (directory 0755,
// socket under umask 077), speaking the text protocol parsed in uapi.ts.

import { log } from "../log/mod.ts";
import { libc } from "./libc.ts";
import { unixSocketAnswers } from "../net/mod.ts";
import {
  formatErrno,
  formatUapiGet,
  parseUapiSet,
  UAPI_ERRNO,
  type UapiSet,
  type UapiSnapshot,
} from "./uapi.ts";
import { listenOnInheritedFd, type UapiConnection, type UapiListener } from "./uapi_fd_listener.ts";

export const UAPI_DIRECTORY = "/var/run/wireguard";
const MAX_REQUEST_BYTES = 1 << 20;
const WATCH_INTERVAL_MS = 500;

/** What the server asks of the device. */
export interface UapiHandler {
  get(): Promise<UapiSnapshot>;
  /** Applies a whole change set; resolves to 0 or a negative errno (nothing changed then). */
  set(change: UapiSet): Promise<number>;
}

export interface UapiServer {
  readonly path: string;
  /** Stops listening and removes the socket file (if it is still ours). */
  close(): Promise<void>;
  /** Resolves when someone else removed the socket file. */
  readonly removed: Promise<void>;
}

/** The socket path of an interface. */
export function uapiSocketPath(name: string, directory = UAPI_DIRECTORY): string {
  return `${directory}/${name}.sock`;
}

/**
 * Listens on the interface's UAPI socket, or serves `inheritedFd`, a socket already listening
 * there (WG_UAPI_FD; its path is still watched and removed like one made here).
 *
 * @throws {Error} when another process serves that socket
 */
export async function listenUapi(
  name: string,
  handler: UapiHandler,
  directory = UAPI_DIRECTORY,
  inheritedFd?: number,
): Promise<UapiServer> {
  if (inheritedFd !== undefined) {
    const path = uapiSocketPath(name, directory);
    const identity = await Deno.stat(path).catch(() => null);
    return serveUapi(path, identity, listenOnInheritedFd(inheritedFd), handler);
  }
  await Deno.mkdir(directory, { recursive: true, mode: 0o755 });
  await Deno.chmod(directory, 0o755);
  const path = uapiSocketPath(name, directory);
  const listen = () => {
    // libc's umask rather than node:process's: that import would start Deno's Node layer
    // (about 1 MiB resident) in every process with a device.
    const previous = libc().umask(0o077);
    try {
      return Deno.listen({ transport: "unix", path });
    } finally {
      libc().umask(previous);
    }
  };
  let listener: Deno.UnixListener;
  try {
    listener = listen();
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    if (await unixSocketAnswers(path)) {
      throw new Error(`Cannot serve ${path}: in use by another process`);
    }
    await Deno.remove(path);
    listener = listen();
  }
  return serveUapi(path, await Deno.stat(path), listener, handler);
}

/**
 * Serves `listener` at `path`; `identity` is the socket file as it was when serving began (null:
 * no file to watch), so a file someone removed or replaced is noticed and never removed by us.
 */
function serveUapi(
  path: string,
  identity: Deno.FileInfo | null,
  listener: UapiListener,
  handler: UapiHandler,
): UapiServer {
  const connections = new Set<UapiConnection>();
  let closing = false;
  let watchTimer: ReturnType<typeof setTimeout> | undefined;
  let signalRemoved!: () => void;
  const removed = new Promise<void>((resolve) => signalRemoved = resolve);

  const stillOurs = async (): Promise<boolean> => {
    if (!identity) return false;
    try {
      const now = await Deno.stat(path);
      return now.ino === identity.ino && now.dev === identity.dev;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  };
  const watch = async () => {
    if (closing) return;
    if (!(await stillOurs())) {
      if (!closing) signalRemoved();
      return;
    }
    if (!closing) watchTimer = setTimeout(watch, WATCH_INTERVAL_MS);
  };
  if (identity) watchTimer = setTimeout(watch, WATCH_INTERVAL_MS);

  const accepting = (async () => {
    for await (const connection of listener) {
      connections.add(connection);
      serveConnection(connection, handler)
        .catch((error) => log.debug("uapi connection ended", { error }))
        .finally(() => {
          connections.delete(connection);
          try {
            connection.close();
          } catch { /* closed by close() */ }
        });
    }
  })().catch((error) => {
    if (!closing) log.warn("uapi listener stopped", { error });
  });

  return {
    path,
    removed,
    async close() {
      if (closing) return;
      closing = true;
      clearTimeout(watchTimer);
      listener.close();
      for (const connection of connections) {
        try {
          connection.close();
        } catch { /* already closed */ }
      }
      await accepting;
      if (await stillOurs()) await Deno.remove(path).catch(() => {});
    },
  };
}

/** Serves one client: any number of get/set operations until it hangs up. */
async function serveConnection(connection: UapiConnection, handler: UapiHandler): Promise<void> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const chunk = new Uint8Array(65536);
  let text = "";
  let eof = false;
  const readMore = async (): Promise<boolean> => {
    if (eof) return false;
    const n = await connection.read(chunk);
    if (n === null) {
      eof = true;
      return false;
    }
    text += decoder.decode(chunk.subarray(0, n), { stream: true });
    if (text.length > MAX_REQUEST_BYTES) throw new Error("request too large");
    return true;
  };
  const write = async (answer: string) => {
    const bytes = encoder.encode(answer);
    for (let done = 0; done < bytes.length;) done += await connection.write(bytes.subarray(done));
  };
  for (;;) {
    while (!text.includes("\n")) if (!(await readMore())) return;
    const newline = text.indexOf("\n");
    const operation = text.slice(0, newline);
    text = text.slice(newline + 1);
    if (operation === "get=1") {
      while (text.length === 0) if (!(await readMore())) return;
      if (text[0] !== "\n") {
        // wireguard-go refuses a trailing character, then reads on from it.
        await write(formatErrno(UAPI_ERRNO.invalid));
        continue;
      }
      text = text.slice(1);
      const snapshot = await handler.get();
      await write(formatUapiGet(snapshot) + formatErrno(0));
    } else if (operation === "set=1") {
      // The transaction ends at a blank line (or at end of input, as wireguard-go accepts).
      while (!text.startsWith("\n") && !text.includes("\n\n") && (await readMore()));
      const end = text.startsWith("\n") ? 0 : text.indexOf("\n\n");
      const body = end < 0 ? text : text.slice(0, end + 1);
      text = end < 0 ? "" : text.slice(end + (end === 0 ? 1 : 2));
      const parsed = parseUapiSet(body);
      const errno = parsed.ok ? await handler.set(parsed.set) : parsed.errno;
      if (!parsed.ok) log.debug("uapi set refused", { reason: parsed.message });
      await write(formatErrno(errno));
      if (eof) return;
    } else {
      // Unknown operation: wireguard-go hangs up without an answer.
      return;
    }
  }
}
