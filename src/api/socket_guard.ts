// The API's Unix socket belongs to one agent: a second agent started on the same path must not
// take it over (and delete it when it exits, leaving the first without an API). A socket file
// that something answers on is live and refused; one nobody answers on is stale and replaced.
// A new socket is set up (mode, group) under a temporary name and renamed into place.

import { DomainError } from "../errors/mod.ts";
import { unixSocketAnswers } from "../net/mod.ts";

/**
 * Checks that `path` is free to listen on: absent, or a stale socket (removed here).
 *
 * @throws {DomainError} `conflict` when a process answers on `path`, `invalid` when a file that
 *   is not a socket is in the way (never deleted)
 */
export async function claimSocketPath(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new DomainError(
      "invalid",
      `Cannot listen on ${path}: a file that is not a socket is in the way`,
    );
  }
  if (await unixSocketAnswers(path)) {
    throw new DomainError(
      "conflict",
      `Cannot listen on ${path}: another process is serving it (is another agent running?)`,
    );
  }
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/**
 * Listens on a Unix socket at `path`, prepared by `prepare` (mode, group) under a temporary name
 * beside it before it is renamed into place, so no client ever finds it half set up.
 */
export async function bindUnixSocket(
  path: string,
  prepare: (bound: string) => Promise<void>,
): Promise<Deno.Listener> {
  const slash = path.lastIndexOf("/");
  const temporary = `${path.slice(0, slash + 1)}.burrow-${Deno.pid}.sock`;
  await Deno.remove(temporary).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: temporary });
  try {
    await prepare(temporary);
    await Deno.rename(temporary, path);
  } catch (error) {
    listener.close();
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  return listener;
}
