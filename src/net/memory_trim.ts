// Gives freed native memory back to the system. The hub's bursts (a reconnect storm: thousands
// of connections opened, read, answered and dropped in seconds) leave glibc's heaps full of
// freed but unreturned pages, so the process's RSS stays at the burst's peak although V8 and
// Deno hold little: measured, 150 sessions left 45 MiB of such pages that malloc_trim(0) handed
// back at once. The agent's start (module loading, the device's Worker, the first connection)
// leaves about 3 MiB of them too. Both roles call it periodically. Without glibc (or without FFI
// permission) this does nothing.

import { log } from "../log/mod.ts";

type Trim = () => void;

let loaded: Trim | null | undefined;

function loadTrim(): Trim | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (Deno.build.os !== "linux") return null;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    loaded = () => void libc.symbols.malloc_trim(0n);
    return loaded;
  } catch (error) {
    log.debug("malloc_trim unavailable; RSS may stay at its peak", { error });
    return null;
  }
}

/**
 * Trims the native heaps every `intervalMs` while RSS is over `floorBytes`.
 *
 * @returns a function that stops it
 */
export function startMemoryTrim(intervalMs = 10_000, floorBytes = 0): () => void {
  const trim = loadTrim();
  if (!trim) return () => {};
  const timer = setInterval(() => {
    if (Deno.memoryUsage().rss > floorBytes) trim();
  }, intervalMs);
  return () => clearInterval(timer);
}
