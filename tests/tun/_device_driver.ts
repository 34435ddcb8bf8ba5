// Test helper run inside a namespace: drives the in-process device API (createDevice) from stdin
// commands, answering each with one JSON line. Used by device_api_test.ts.
// Commands: create NAME PORT PRIVB64 | address CIDR | route CIDR | peer JSON | remove PUBB64 | peers | close

import { createDevice, type Device } from "../../src/tun/mod.ts";
import { keyFromBase64, keyToBase64 } from "../../src/curve25519/mod.ts";
import { testRequestResponder } from "../../src/hub/mod.ts";

let device: Device | null = null;
const encoder = new TextEncoder();
const answer = (value: unknown) => Deno.stdout.write(encoder.encode(JSON.stringify(value) + "\n"));

async function handle(line: string): Promise<unknown> {
  const [command, ...rest] = line.split(" ");
  const argument = rest.join(" ");
  switch (command) {
    case "create": {
      const [name, port, key] = rest;
      device = await createDevice({
        name,
        listenPort: Number(port),
        privateKey: keyFromBase64(key)!,
        onForeignDatagram: testRequestResponder(() => device),
      });
      device.closed.then(() => answer({ event: "closed" }));
      return {
        name: device.name,
        publicKey: keyToBase64(device.publicKey),
        port: device.listenPort,
      };
    }
    case "address":
      await device!.addAddress(argument);
      return { ok: true };
    case "route":
      await device!.addRoute(argument);
      return { ok: true };
    case "peer": {
      const settings = JSON.parse(argument);
      await device!.setPeer({ ...settings, publicKey: keyFromBase64(settings.publicKey)! });
      return { ok: true };
    }
    case "remove":
      await device!.removePeer(keyFromBase64(argument)!);
      return { ok: true };
    case "peers":
      return (await device!.peers()).map((p) => ({ ...p, publicKey: keyToBase64(p.publicKey) }));
    case "close":
      await device!.close();
      return { ok: true };
    default:
      return { error: `unknown command ${command}` };
  }
}

let buffered = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    try {
      await answer(await handle(line));
    } catch (error) {
      await answer({ error: String(error) });
    }
  }
}
