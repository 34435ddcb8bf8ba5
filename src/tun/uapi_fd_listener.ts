// A UAPI listener on an inherited, already listening Unix socket (wireguard-go's WG_UAPI_FD).
// Deno cannot wrap a descriptor it did not open, so accept, read and write go through libc on a
// non-blocking descriptor, waiting in poll on a pool thread (never blocking the event loop).

import {
  EAGAIN,
  EINTR,
  errno,
  libc,
  POLLIN,
  POLLOUT,
  SHUT_RDWR,
  sizeArg,
  SyscallError,
} from "./libc.ts";
import { setNonBlocking } from "./tun.ts";

const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
/** How long one wait lasts, so a closed listener or connection is noticed this soon. */
const WAIT_MS = 200;

/** What the UAPI server needs of a connection (Deno.UnixConn has the same shape). */
export interface UapiConnection {
  read(buffer: Uint8Array): Promise<number | null>;
  write(buffer: Uint8Array): Promise<number>;
  close(): void;
}

/** What the UAPI server needs of a listener (Deno.UnixListener has the same shape). */
export interface UapiListener extends AsyncIterable<UapiConnection> {
  close(): void;
}

/** Waits until `fd` is ready for `events` or `WAIT_MS` passed; false when `closed()` meanwhile. */
async function ready(fd: number, events: number, closed: () => boolean): Promise<boolean> {
  const entry = new Uint8Array(8);
  const view = new DataView(entry.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  while (!closed()) {
    const count = await libc().pollAsync(entry, 1n, WAIT_MS);
    if (count > 0 || (count < 0 && errno() !== EINTR)) return !closed();
  }
  return false;
}

class FdConnection implements UapiConnection {
  #closed = false;
  constructor(readonly fd: number) {}

  async read(buffer: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) return null;
      const n = libc().read(this.fd, buffer, sizeArg(buffer.length));
      if (n > 0) return n;
      if (n === 0) return null;
      const code = errno();
      if (code !== EAGAIN && code !== EINTR) throw new SyscallError("read uapi", code);
      if (!(await ready(this.fd, POLLIN, () => this.#closed))) return null;
    }
  }

  async write(buffer: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#closed) throw new Error("uapi connection closed");
      const n = libc().write(this.fd, buffer, sizeArg(buffer.length));
      if (n >= 0) return n;
      const code = errno();
      if (code !== EAGAIN && code !== EINTR) throw new SyscallError("write uapi", code);
      await ready(this.fd, POLLOUT, () => this.#closed);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc().close(this.fd);
  }
}

/** Serves connections accepted on the listening socket `fd`; close() stops and closes it. */
export function listenOnInheritedFd(fd: number): UapiListener {
  setNonBlocking(fd);
  let closed = false;
  return {
    async *[Symbol.asyncIterator]() {
      try {
        while (!closed) {
          const accepted = libc().accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (accepted >= 0) {
            yield new FdConnection(accepted);
            continue;
          }
          const code = errno();
          if (code !== EAGAIN && code !== EINTR) {
            if (closed) return;
            throw new SyscallError("accept uapi", code);
          }
          if (!(await ready(fd, POLLIN, () => closed))) return;
        }
      } finally {
        // Closed here, after the last wait on it returned, so no poll sees a reused number.
        libc().close(fd);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      libc().shutdown(fd, SHUT_RDWR);
    },
  };
}
