// `GET /metrics`: the agent's Prometheus scrape on every API listener. The route only serves
// text it is handed; what is counted is wired by the agent's composition root (src/agent).

import { METRICS_CONTENT_TYPE } from "./api_schemas.ts";
import type { Route } from "./exchange.ts";

export const METRICS_PATH = "/metrics";

/** The `GET /metrics` route; `scrape` answers the exposition text. */
export function metricsRoute(scrape: () => Promise<string>): Route {
  return {
    family: "olm",
    methods: ["GET"],
    path: METRICS_PATH,
    doc: {
      summary: "Prometheus metrics (text exposition format 0.0.4)",
      responses: {
        200: { description: "the scrape", text: METRICS_CONTENT_TYPE.split(";")[0] },
      },
    },
    async handle() {
      return {
        status: 200,
        text: await scrape(),
        headers: { "content-type": METRICS_CONTENT_TYPE },
      };
    },
  };
}
