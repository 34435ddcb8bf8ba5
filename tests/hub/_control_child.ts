// A loopback hub (fake tunnel device) in its own process, for tests that squeeze its
// resources (run under `prlimit --nofile`). Args: STATE_DIR HEAD_TIMEOUT_MS. Prints one JSON
// line {port, id, secret} once listening, then serves until killed.
import { startTestHub } from "./_hub_support.ts";

const [stateDir, headTimeout] = Deno.args;
const hub = await startTestHub(stateDir, new Map(), {
  controlHeadTimeoutMs: Number(headTimeout),
  // The per-address cap would refuse first: the test is about the descriptor budget.
  controlOpeningPerAddress: 100_000,
});
const { id, secret } = await hub.store.addClient("squeezed");
console.log(JSON.stringify({ port: hub.controlPort, id, secret }));
