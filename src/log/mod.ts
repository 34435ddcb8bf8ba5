// The door of log/: the one logger (text or JSON lines, secrets redacted).

export * from "./logger.ts";
