// A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line must
// be a `# HELP`, a `# TYPE` or a sample of a family whose TYPE came first; names, label
// syntax, escapes and values are checked; a family's samples are contiguous and no series
// appears twice. Anything else throws, naming the line.

export interface Scrape {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: { name: string; labels: Record<string, string>; value: number }[];
  /** The value of one series; undefined when absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every series of `name`. */
  series(name: string): { labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, where: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Labels `{a="x",b="y"}` from `text` starting at `{`; returns them and the rest. */
function parseLabels(text: string, where: string): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let i = 1;
  while (text[i] !== "}") {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name ${name}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let value = "";
    let j = eq + 2;
    for (;; j++) {
      const c = text[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === "\n") throw new Error(`${where}: raw newline in a label value`);
      if (c === "\\") {
        const next = text[++j];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new Error(`${where}: bad escape \\${next}`);
      } else value += c;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw new Error(`${where}: expected ',' or '}' after a label`);
  }
  return [labels, text.slice(i + 1)];
}

/** Parses a scrape. @throws {Error} naming the first line that breaks the format */
export function parsePrometheus(text: string): Scrape {
  if (text !== "" && !text.endsWith("\n")) throw new Error("the scrape must end with a newline");
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Scrape["samples"] = [];
  const seen = new Set<string>();
  const finished = new Set<string>();
  let current = "";
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((line, index) => {
    const where = `line ${index + 1} (${line})`;
    if (line.startsWith("#")) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) {
        if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`${where}: malformed`);
        return; // a comment
      }
      const [, kind, name, rest] = match;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        if (types.has(name)) throw new Error(`${where}: TYPE twice`);
        if (samples.some((s) => s.name === name)) throw new Error(`${where}: TYPE after samples`);
        types.set(name, rest);
      } else {
        if (help.has(name)) throw new Error(`${where}: HELP twice`);
        help.set(name, rest.replaceAll("\\n", "\n").replaceAll("\\\\", "\\"));
      }
      return;
    }
    if (line.trim() === "") throw new Error(`${where}: empty line`);
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`${where}: no metric name`);
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) [labels, rest] = parseLabels(rest, where);
    const parts = rest.split(" ");
    if (parts[0] !== "" || parts.length < 2 || parts.length > 3) {
      throw new Error(`${where}: expected ' value [timestamp]'`);
    }
    const value = parseValue(parts[1], where);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) {
      throw new Error(`${where}: bad timestamp`);
    }
    if (!types.has(name)) throw new Error(`${where}: sample before its TYPE`);
    if (name !== current) {
      if (finished.has(name)) throw new Error(`${where}: samples of ${name} are not contiguous`);
      if (current) finished.add(current);
      current = name;
    }
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(key)) throw new Error(`${where}: the same series twice`);
    seen.add(key);
    if (types.get(name) === "counter" && !(value >= 0)) {
      throw new Error(`${where}: a counter below zero`);
    }
    samples.push({ name, labels, value });
  });
  const matches = (a: Record<string, string>, b: Record<string, string>) =>
    Object.entries(b).every(([k, v]) => a[k] === v);
  return {
    types,
    help,
    samples,
    value: (name, labels = {}) =>
      samples.find((s) => s.name === name && matches(s.labels, labels))?.value,
    series: (name) =>
      samples.filter((s) => s.name === name).map(({ labels, value }) => ({ labels, value })),
  };
}
