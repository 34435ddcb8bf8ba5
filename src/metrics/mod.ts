// The door of src/metrics: counters, collectors and the Prometheus text format, shared by the
// agent and the hub.

export {
  type Collector,
  EXPOSITION_CONTENT_TYPE,
  type Labels,
  Metric,
  type MetricFamily,
  MetricsRegistry,
  type MetricType,
  renderExposition,
  type Sample,
} from "./exposition.ts";
