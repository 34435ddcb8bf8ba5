// The agent's traffic rules and port allocations, as one value persisted in the state directory.
// Changes are planned purely (current set + request -> next set, or a RuleError naming the
// offending object) and only then written atomically, so a refused request changes nothing.

import { readJsonFile, writeJsonAtomic } from "../state/mod.ts";
import {
  type HttpsRule,
  parseTrafficRules,
  type PortMapRule,
  type PortRule,
  RuleError,
  type TrafficKeys,
  type TrafficRules,
} from "../protocol/mod.ts";

/** File name of the rule set inside the state directory. */
export const RULES_FILE = "rules.json";

/** The stored value: the rules plus a revision counted up on every accepted change. */
export interface RuleSet extends TrafficRules {
  revision: number;
}

export const EMPTY_RULE_SET: RuleSet = { revision: 0, https: [], ports: [], portmaps: [] };

function copy(set: RuleSet): RuleSet {
  return structuredClone(set);
}

function next(set: RuleSet): RuleSet {
  const out = copy(set);
  out.revision = set.revision + 1;
  return out;
}

function cleared(port: number): PortRule {
  return { port, destination: "", dstPort: 0 };
}

/**
 * Adds new rules. A domain or port map that exists already is a conflict (409); a port rule
 * needs an allocated port (400) that has no forward yet (409).
 */
export function planCreate(current: RuleSet, request: TrafficRules): RuleSet {
  const out = next(current);
  request.https.forEach((rule, index) => {
    if (out.https.some((site) => site.domain === rule.domain)) {
      throw new RuleError("conflict", `https[${index}] (${rule.domain}): the site exists already`);
    }
    out.https.push(rule);
  });
  request.ports.forEach((rule, index) => {
    const at = out.ports.findIndex((p) => p.port === rule.port);
    if (at < 0) {
      throw new RuleError(
        "invalid",
        `ports[${index}] (${rule.port}): the port is not allocated to this tunnel`,
      );
    }
    // A rule without destination clears the forward, which the spec allows here too.
    if (isForward(rule) && isForward(out.ports[at])) {
      throw new RuleError(
        "conflict",
        `ports[${index}] (${rule.port}): the port has a forward already`,
      );
    }
    out.ports[at] = rule;
  });
  request.portmaps.forEach((rule, index) => {
    if (out.portmaps.some((map) => map.port === rule.port)) {
      throw new RuleError(
        "conflict",
        `portmaps[${index}] (${rule.port}): the port map exists already`,
      );
    }
    out.portmaps.push(rule);
  });
  return out;
}

/** Replaces existing rules by key; a missing one is 404. */
export function planUpdate(current: RuleSet, request: TrafficRules): RuleSet {
  const out = next(current);
  request.https.forEach((rule, index) => {
    const at = out.https.findIndex((site) => site.domain === rule.domain);
    if (at < 0) throw new RuleError("not_found", `https[${index}] (${rule.domain}): no such site`);
    out.https[at] = rule;
  });
  request.ports.forEach((rule, index) => {
    const at = out.ports.findIndex((p) => p.port === rule.port);
    if (at < 0) {
      throw new RuleError(
        "not_found",
        `ports[${index}] (${rule.port}): the port is not allocated to this tunnel`,
      );
    }
    out.ports[at] = rule;
  });
  request.portmaps.forEach((rule, index) => {
    const at = out.portmaps.findIndex((map) => map.port === rule.port);
    if (at < 0) {
      throw new RuleError("not_found", `portmaps[${index}] (${rule.port}): no such port map`);
    }
    out.portmaps[at] = rule;
  });
  return out;
}

/**
 * Deletes rules by key: a site and a port map go away, a port rule is cleared but the port stays
 * allocated (as the spec says). A missing key is 404.
 */
export function planDelete(current: RuleSet, keys: TrafficKeys): RuleSet {
  const out = next(current);
  keys.https.forEach((domain, index) => {
    const at = out.https.findIndex((site) => site.domain === domain);
    if (at < 0) throw new RuleError("not_found", `https[${index}] (${domain}): no such site`);
    out.https.splice(at, 1);
  });
  keys.ports.forEach((port, index) => {
    const at = out.ports.findIndex((p) => p.port === port);
    if (at < 0) {
      throw new RuleError(
        "not_found",
        `ports[${index}] (${port}): the port is not allocated to this tunnel`,
      );
    }
    out.ports[at] = cleared(port);
  });
  keys.portmaps.forEach((port, index) => {
    const at = out.portmaps.findIndex((map) => map.port === port);
    if (at < 0) throw new RuleError("not_found", `portmaps[${index}] (${port}): no such port map`);
    out.portmaps.splice(at, 1);
  });
  return out;
}

/** Records a port the hub allocated to this agent. */
export function planAllocated(current: RuleSet, port: number): RuleSet {
  const out = next(current);
  if (!out.ports.some((p) => p.port === port)) out.ports.push(cleared(port));
  return out;
}

/** Drops a released port and its forward. */
export function planReleased(current: RuleSet, port: number): RuleSet {
  const out = next(current);
  out.ports = out.ports.filter((p) => p.port !== port);
  return out;
}

/**
 * Makes the allocated ports exactly the hub's list: ports the hub no longer knows lose their
 * forward, new ones appear without one. Returns `current` itself when nothing changes.
 */
export function planHubPorts(current: RuleSet, hubPorts: readonly number[]): RuleSet {
  const known = new Set(hubPorts);
  const mine = new Set(current.ports.map((p) => p.port));
  const same = mine.size === known.size && [...mine].every((port) => known.has(port));
  if (same) return current;
  const out = next(current);
  out.ports = out.ports.filter((p) => known.has(p.port));
  for (const port of hubPorts) if (!mine.has(port)) out.ports.push(cleared(port));
  return out;
}

/** A port rule that forwards somewhere (not merely an allocation). */
export function isForward(rule: PortRule): boolean {
  return rule.destination !== "" && rule.dstPort !== 0;
}

/**
 * The agent's rule set on disk: read once at start, replaced whole on every accepted change.
 *
 * @example
 * ```ts
 * const store = await RuleStore.open("/var/lib/burrow");
 * await store.replace(planCreate(store.current, parseTrafficRules(body)));
 * ```
 */
export class RuleStore {
  #current: RuleSet;
  // Changes are serialized so two requests never plan from the same stale set.
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly path: string, initial: RuleSet) {
    this.#current = initial;
  }

  /**
   * Opens (or starts empty) the rule set in `stateDir`.
   *
   * @throws {SyntaxError} or {RuleError} when the file exists but is not a valid rule set: the
   *   agent must not start with silently dropped rules
   */
  static async open(stateDir: string): Promise<RuleStore> {
    const path = `${stateDir.replace(/\/+$/, "")}/${RULES_FILE}`;
    const raw = await readJsonFile(path);
    if (raw === undefined) return new RuleStore(path, copy(EMPTY_RULE_SET));
    return new RuleStore(path, decodeRuleSet(raw));
  }

  /** A copy of the current set. */
  get current(): RuleSet {
    return copy(this.#current);
  }

  /** Writes `set` atomically, then makes it current. */
  async replace(set: RuleSet): Promise<void> {
    await writeJsonAtomic(this.path, set);
    this.#current = copy(set);
  }

  /**
   * Runs `change` alone: no other `exclusive` call overlaps it.
   */
  exclusive<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(change, change);
    this.#queue = run.catch(() => {});
    return run;
  }
}

/**
 * Reads a stored rule set, validating it like a request (a hand-edited file gets the same
 * checks).
 *
 * @throws {RuleError} naming the offending object
 */
export function decodeRuleSet(raw: unknown): RuleSet {
  if (raw === null || typeof raw !== "object") {
    throw new RuleError("invalid", "rule set is not an object");
  }
  const { revision, ...lists } = raw as Record<string, unknown>;
  const rules = parseTrafficRules(lists);
  return {
    revision: typeof revision === "number" && Number.isInteger(revision) ? revision : 0,
    ...rules,
  };
}

export type { HttpsRule, PortMapRule, PortRule };
