// src/metrics: counters, collectors and the text format, read back with the strict parser.

import { assert, assertEquals, assertThrows } from "../_support/assert.ts";
import { parsePrometheus } from "../_support/prometheus.ts";
import { MetricsRegistry, renderExposition } from "../../src/metrics/mod.ts";

Deno.test("counters and collectors render as valid exposition text", async () => {
  const registry = new MetricsRegistry();
  const requests = registry.counter("demo_requests_total", "requests\nby site \\ kind", ["site"]);
  requests.inc({ site: 'a"b\\c\nd' });
  requests.inc({ site: 'a"b\\c\nd' }, 2);
  requests.inc({ site: "plain" });
  registry.collect(() => [{
    name: "demo_up",
    help: "up",
    type: "gauge",
    samples: [{ value: 1 }, { labels: { x: "y" }, value: NaN }],
  }]);
  const text = await registry.render();
  const scrape = parsePrometheus(text);
  assertEquals(scrape.types.get("demo_requests_total"), "counter");
  assertEquals(scrape.help.get("demo_requests_total"), "requests\nby site \\ kind");
  assertEquals(scrape.value("demo_requests_total", { site: 'a"b\\c\nd' }), 3);
  assertEquals(scrape.value("demo_requests_total", { site: "plain" }), 1);
  assertEquals(scrape.value("demo_up", {}), 1);
  assert(Number.isNaN(scrape.value("demo_up", { x: "y" })!));
});

Deno.test("misuse is refused, not written", () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter("demo_total", "d", ["site"]);
  assertThrows(() => counter.inc({ site: "a" }, -1), RangeError);
  assertThrows(() => counter.inc({ other: "a" }), TypeError);
  assertThrows(() => registry.counter("demo_total", "again"), TypeError);
  assertThrows(() => registry.counter("bad-name", "x"), TypeError);
  assertThrows(() => counter.set({ site: "a" }, 1), TypeError);
  assertThrows(
    () =>
      renderExposition([{
        name: "x",
        help: "",
        type: "gauge",
        samples: [{ labels: { "a-b": "1" }, value: 1 }],
      }]),
    TypeError,
  );
});

Deno.test("the strict parser refuses what Prometheus would", () => {
  for (
    const bad of [
      "x 1\n", // no TYPE
      "# TYPE x counter\nx{a=1} 1\n", // unquoted
      "# TYPE x counter\nx -1\n", // a counter below zero
      "# TYPE x gauge\nx 1\nx 2\n", // a series twice
      '# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a="b"} 1\n', // not contiguous
      "# TYPE x gauge\nx 1", // no final newline
      "# TYPE x gauge\nx one\n",
    ]
  ) assertThrows(() => parsePrometheus(bad), Error);
});

Deno.test("label sets stay apart whatever their values, in any order they are given", () => {
  const registry = new MetricsRegistry();
  const bytes = registry.counter("demo_bytes_total", "b", ["agent", "direction"]);
  // Values that join into the same text must still be two series.
  bytes.inc({ agent: "a", direction: "bc" }, 1);
  bytes.inc({ agent: "ab", direction: "c" }, 2);
  bytes.inc({ direction: "bc", agent: "a" }, 4);
  assertEquals(bytes.value({ agent: "a", direction: "bc" }), 5);
  assertEquals(bytes.value({ direction: "c", agent: "ab" }), 2);
  assertEquals(bytes.family().samples.length, 2);
  assertThrows(() => bytes.inc({ agent: "a", other: "bc" }), TypeError);
  assertThrows(() => bytes.inc({ agent: "a" }), TypeError);
  const bySite = registry.counter("demo_site_total", "s", ["site"]);
  bySite.inc({ site: '["x"]' });
  bySite.inc({ site: "x" });
  assertEquals(bySite.family().samples.length, 2);
});
