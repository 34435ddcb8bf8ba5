// BurrowClient's metrics() and openApi() against the agent's API (the same router as a running
// agent: tests/api/_fixture.ts), and the client's route coverage checked against the document.
import { assert, assertEquals } from "../_support/assert.ts";
import { parsePrometheus } from "../_support/prometheus.ts";
import { withApi } from "../api/_fixture.ts";
import { BurrowClient } from "../../src/client/mod.ts";

Deno.test("BurrowClient reads the metrics and the OpenAPI document", async () => {
  await withApi(async ({ socketPath }) => {
    const client = new BurrowClient({ socketPath });
    try {
      const scrape = parsePrometheus(await client.metrics());
      assertEquals(scrape.value("burrow_session_connected"), 0);
      assertEquals(scrape.value("burrow_session_reconnects_total"), 0);
      const doc = await client.openApi();
      assertEquals(doc.openapi, "3.1.0");
      assert("/metrics" in (doc.paths as object) && "/openapi.json" in (doc.paths as object));
    } finally {
      client.close();
    }
  });
});
