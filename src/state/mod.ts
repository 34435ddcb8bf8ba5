// The door of state/: state files written atomically (temp file, fsync, rename) with mode 0600.

export * from "./atomic.ts";
