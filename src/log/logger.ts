// One small logger for every role: levels, human or JSON lines, and secret scrubbing.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

/** The least severe level a logger prints; "silent" prints nothing (wireguard-go's LOG_LEVEL=silent). */
export type LogThreshold = LogLevel | "silent";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const RANK: Record<LogThreshold, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 100,
};
// Field names whose values are secrets whatever they hold.
const SECRET_FIELD = /secret|token|password|private|psk|preshared|authorization/i;
const REDACTED = "[redacted]";

export interface LoggerOptions {
  level?: LogThreshold;
  format?: LogFormat;
  /** Where finished lines go; stderr by default. */
  write?: (line: string) => void;
  /** Clock for timestamps; injectable so tests can pin it. */
  now?: () => Date;
}

/**
 * A levelled logger. Fields named like secrets are replaced, and every value
 * registered with {@linkcode Logger.addSecret} is scrubbed from messages and fields.
 *
 * @example Log a line
 * ```ts
 * const log = new Logger({ level: "info" });
 * log.info("listening", { addr: "127.0.0.1:4100" });
 * ```
 */
export class Logger {
  level: LogThreshold;
  format: LogFormat;
  readonly #write: (line: string) => void;
  readonly #now: () => Date;
  readonly #secrets: Set<string>;
  readonly #context: LogFields;

  constructor(options: LoggerOptions = {}, context: LogFields = {}, secrets = new Set<string>()) {
    this.level = options.level ?? "info";
    this.format = options.format ?? "text";
    this.#write = options.write ?? writeStderr;
    this.#now = options.now ?? (() => new Date());
    this.#context = context;
    this.#secrets = secrets;
  }

  /** A logger that adds `context` to every line and shares this one's level, output and secrets. */
  with(context: LogFields): Logger {
    const child = new Logger(
      { level: this.level, format: this.format, write: this.#write, now: this.#now },
      { ...this.#context, ...context },
      this.#secrets,
    );
    return child;
  }

  /** Remembers a secret value so that it never appears in any line, from this logger or its children. */
  addSecret(value: string | undefined): void {
    if (value && value.length >= 4) this.#secrets.add(value);
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  debug(message: string, fields?: LogFields): void {
    this.log("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.log("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.log("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.log("error", message, fields);
  }

  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const all: LogFields = { ...this.#context, ...fields };
    const clean: LogFields = {};
    for (const [key, value] of Object.entries(all)) {
      clean[key] = SECRET_FIELD.test(key) ? REDACTED : this.#scrubValue(value);
    }
    const time = this.#now().toISOString();
    const text = this.#scrub(message);
    if (this.format === "json") {
      this.#write(JSON.stringify({ time, level, msg: text, ...clean }));
      return;
    }
    const tail = Object.entries(clean).map(([k, v]) => ` ${k}=${formatValue(v)}`).join("");
    this.#write(`${time} ${level.toUpperCase().padEnd(5)} ${text}${tail}`);
  }

  #scrubValue(value: unknown): unknown {
    if (typeof value === "string") return this.#scrub(value);
    if (value instanceof Error) return this.#scrub(value.message);
    if (value && typeof value === "object") {
      return JSON.parse(
        this.#scrub(JSON.stringify(value)),
        (key, inner) => key && SECRET_FIELD.test(key) ? REDACTED : inner,
      );
    }
    return value;
  }

  #scrub(text: string): string {
    for (const secret of this.#secrets) {
      if (text.includes(secret)) text = text.split(secret).join(REDACTED);
    }
    return text;
  }
}

function formatValue(value: unknown): string {
  if (typeof value === "string") {
    return /[\s="]/.test(value) || value === "" ? JSON.stringify(value) : value;
  }
  if (value === undefined) return "undefined";
  return JSON.stringify(value);
}

const encoder = new TextEncoder();
function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** The process-wide logger; roles set its level and format from their flags. */
export const log = new Logger();
