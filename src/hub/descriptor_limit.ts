// File descriptors for the control port. A hub holds one descriptor per agent session, so a
// fleet needs more than the usual soft limit of 1024: at start the soft limit is raised to the
// hard one (as Go's runtime does). The control port then keeps its connections under that
// limit with room to spare, because running out is not survivable everywhere: Deno panics when
// it cannot get a descriptor for a child process's signal (the hub runs sysctl(8) every 2 s).

import { log } from "../log/mod.ts";

const RLIMIT_NOFILE = 7;

/**
 * Raises the soft descriptor limit to the hard one (Linux with glibc; elsewhere unchanged).
 *
 * @returns the soft limit now in force, or null when it cannot be read
 */
export function raiseDescriptorLimit(): number | null {
  if (Deno.build.os !== "linux") return null;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    });
    try {
      const limits = new BigUint64Array(2);
      if (libc.symbols.getrlimit(RLIMIT_NOFILE, limits) !== 0) return null;
      if (limits[0] < limits[1]) {
        const raised = new BigUint64Array([limits[1], limits[1]]);
        if (libc.symbols.setrlimit(RLIMIT_NOFILE, raised) === 0) limits[0] = limits[1];
      }
      return Number(limits[0] > 1_000_000_000n ? 1_000_000_000n : limits[0]);
    } finally {
      libc.close();
    }
  } catch (error) {
    log.debug("cannot read the descriptor limit", { error });
    return null;
  }
}

/**
 * How many connections the control port may hold at once under a descriptor limit: a quarter
 * (at least 64) stays for everything else the hub opens.
 */
export function controlConnectionBudget(limit: number | null): number {
  if (limit === null) return Infinity;
  return Math.max(16, limit - Math.max(64, Math.floor(limit / 4)));
}
