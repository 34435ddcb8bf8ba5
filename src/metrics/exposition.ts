// Prometheus metrics without a client library: counters the code increments, families
// collected from live state when scraped, and the text exposition format 0.0.4 they are
// written in (https://prometheus.io/docs/instrumenting/exposition_formats/). A leaf: it
// imports nothing, so every role can count.

export type MetricType = "counter" | "gauge";
export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** One metric family as scraped: its name, help text, type and samples. */
export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A counter (or gauge) with labels, kept in memory; `family()` is its scrape. */
export class Metric {
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  /** @throws {TypeError} when the name or a label name is not a valid Prometheus name */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[] = [],
  ) {
    if (!NAME.test(name)) throw new TypeError(`Invalid metric name: ${name}`);
    for (const label of labelNames) {
      if (!LABEL.test(label) || label.startsWith("__")) {
        throw new TypeError(`Invalid label name for ${name}: ${label}`);
      }
    }
  }

  /** Adds `by` (a counter only goes up: a negative `by` is refused). */
  inc(labels: Labels = {}, by = 1): void {
    if (this.type === "counter" && !(by >= 0)) {
      throw new RangeError(`${this.name} is a counter: cannot add ${by}`);
    }
    const entry = this.#entry(labels);
    entry.value += by;
  }

  /** Sets a gauge. */
  set(labels: Labels, value: number): void {
    if (this.type !== "gauge") throw new TypeError(`${this.name} is a counter: cannot set it`);
    this.#entry(labels).value = value;
  }

  /** The current value for `labels` (0 when never touched). */
  value(labels: Labels = {}): number {
    return this.#values.get(this.#key(labels))?.value ?? 0;
  }

  family(): MetricFamily {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      samples: [...this.#values.values()].map(({ labels, value }) => ({ labels, value })),
    };
  }

  #key(labels: Labels): string {
    // The relays count every request and every relayed chunk: labels given exactly as declared
    // are keyed without the sorting and JSON below (the key format is this metric's own).
    const declared = this.labelNames;
    let given = 0;
    for (const _ in labels) given++;
    if (given === declared.length) {
      if (given === 1) {
        const value = labels[declared[0]];
        if (typeof value === "string") return value;
      } else if (given === 2) {
        const first = labels[declared[0]];
        const second = labels[declared[1]];
        if (typeof first === "string" && typeof second === "string") {
          return `${first.length}:${first}${second}`;
        }
      }
    }
    return this.#slowKey(labels);
  }

  #slowKey(labels: Labels): string {
    const names = Object.keys(labels).sort();
    const expected = [...this.labelNames].sort();
    if (names.join(",") !== expected.join(",")) {
      throw new TypeError(`${this.name} takes labels [${expected}], received [${names}]`);
    }
    return JSON.stringify(expected.map((name) => labels[name]));
  }

  #entry(labels: Labels): { labels: Labels; value: number } {
    const key = this.#key(labels);
    let entry = this.#values.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, value: 0 };
      this.#values.set(key, entry);
    }
    return entry;
  }
}

/** Something read when scraped: the families it answers are written as they are. */
export type Collector = () => MetricFamily[] | Promise<MetricFamily[]>;

/** The metrics of one process: counters it owns and collectors of live state. */
export class MetricsRegistry {
  readonly #metrics: Metric[] = [];
  readonly #collectors: Collector[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.#add(new Metric(name, help, "counter", labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Metric {
    return this.#add(new Metric(name, help, "gauge", labelNames));
  }

  /** Adds a collector read at every scrape. @returns a function that removes it */
  collect(collector: Collector): () => void {
    this.#collectors.push(collector);
    return () => {
      const at = this.#collectors.indexOf(collector);
      if (at >= 0) this.#collectors.splice(at, 1);
    };
  }

  /** Every family, counters first, then what the collectors answer. */
  async families(): Promise<MetricFamily[]> {
    const collected = await Promise.all(this.#collectors.map((collect) => collect()));
    return [...this.#metrics.map((metric) => metric.family()), ...collected.flat()];
  }

  /** The scrape as Prometheus text. */
  async render(): Promise<string> {
    return renderExposition(await this.families());
  }

  #add(metric: Metric): Metric {
    if (this.#metrics.some((m) => m.name === metric.name)) {
      throw new TypeError(`Metric ${metric.name} is registered twice`);
    }
    this.#metrics.push(metric);
    return metric;
  }
}

/** The media type of the text format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Writes families in the text exposition format 0.0.4: `# HELP` and `# TYPE` lines, then one
 * line per sample. Families of the same name are merged (their samples follow one header).
 *
 * @throws {TypeError} on an invalid metric or label name
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const merged = new Map<string, MetricFamily>();
  for (const family of families) {
    if (!NAME.test(family.name)) throw new TypeError(`Invalid metric name: ${family.name}`);
    const known = merged.get(family.name);
    if (known) known.samples.push(...family.samples);
    else merged.set(family.name, { ...family, samples: [...family.samples] });
  }
  const lines: string[] = [];
  for (const family of merged.values()) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      lines.push(`${family.name}${formatLabels(sample.labels ?? {})} ${formatValue(sample.value)}`);
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${
    entries.map(([name, value]) => {
      if (!LABEL.test(name)) throw new TypeError(`Invalid label name: ${name}`);
      return `${name}="${escapeLabel(value)}"`;
    }).join(",")
  }}`;
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeLabel(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
