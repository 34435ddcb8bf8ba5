import { startTestHub } from "./_hub_support.ts";
import { DatabaseSync } from "node:sqlite";
import { hashSecret } from "../../src/hub/client_store.ts";
import { ResumeCredentials } from "../../src/hub/resume_credentials.ts";
const [stateDir, count] = Deno.args;
const hub = await startTestHub(stateDir, new Map(), {
  controlOpeningPerAddress: 100000,
  loginGate: { perAddress: 100000 },
});
const hash = await hashSecret("common");
const db = new DatabaseSync(`${stateDir}/hub.db`);
const clients = [];
const resume = new ResumeCredentials(hub.store);
for (let i = 0; i < Number(count); i++) {
  const id = `c${i}x${Math.random().toString(36).slice(2, 10)}`;
  db.prepare("INSERT INTO clients (id, name, secret_hash, created_at) VALUES (?, ?, ?, ?)").run(
    id,
    "s",
    hash,
    Date.now(),
  );
  clients.push({ id, secret: "common", resume: await resume.issue(id) });
}
db.close();
await Deno.writeTextFile(
  `${stateDir}/clients.json`,
  JSON.stringify({ port: hub.controlPort, clients }),
);
console.log("ready");
