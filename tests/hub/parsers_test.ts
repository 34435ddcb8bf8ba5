// The hub's pure parsers: the RTT probe answer and the port-map wire format (SNI and Host
// parsing live in net/, tested in tests/net/).
import { assertEquals } from "../_support/assert.ts";
import { answerProbe } from "../../src/hub/probe_answer.ts";
import {
  decodePortMapAnswer,
  decodePortMapRequest,
  encodePortMapAnswer,
  encodePortMapRequest,
  frameDatagram,
  readDatagrams,
  unframeDatagrams,
} from "../../src/protocol/portmap_frames.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("answerProbe() echoes the timestamp with type 2 and ignores anything else", () => {
  const request = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
  assertEquals([...answerProbe(request)!], [0xde, 0xad, 0xbe, 0xef, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
  assertEquals(answerProbe(request.subarray(0, 12)), null);
  const reply = request.slice();
  reply[4] = 2;
  assertEquals(answerProbe(reply), null, "replies are not answered");
  const wrong = request.slice();
  wrong[0] = 0;
  assertEquals(answerProbe(wrong), null);
});

Deno.test("port-map wire: request and answer lines round-trip; datagrams frame and unframe", () => {
  const request = { destination: "db.example.com", dstPort: 5432, transport: "tcp" as const };
  const line = encodePortMapRequest(request);
  assertEquals(line[line.length - 1], 10);
  assertEquals(decodePortMapRequest(line.subarray(0, line.length - 1)), request);
  assertEquals(
    decodePortMapRequest(bytes('{"v":1,"destination":"","dstPort":0,"transport":"tcp"}')),
    null,
  );
  assertEquals(
    decodePortMapRequest(bytes('{"v":2,"destination":"","dstPort":1,"transport":"tcp"}')),
    null,
  );
  assertEquals(decodePortMapRequest(bytes("nonsense")), null);
  const refusal = encodePortMapAnswer({ ok: false, error: "no" });
  assertEquals(decodePortMapAnswer(refusal.subarray(0, refusal.length - 1)), {
    ok: false,
    error: "no",
  });
  const stream = Uint8Array.from([
    ...frameDatagram(bytes("one")),
    ...frameDatagram(bytes("")),
    ...frameDatagram(bytes("three")).subarray(0, 4),
  ]);
  const { datagrams, rest } = unframeDatagrams(stream);
  assertEquals(datagrams.map((d) => new TextDecoder().decode(d)), ["one", ""]);
  assertEquals(rest.length, 4);
});

Deno.test("port-map wire: readDatagrams joins frames split across reads, drops a partial one at EOF", async () => {
  const stream = Uint8Array.from([
    ...frameDatagram(bytes("first")),
    ...frameDatagram(bytes("second")),
    ...frameDatagram(bytes("cut")).subarray(0, 3),
  ]);
  // Reads of 1, 3, 7 bytes and the rest cut both a length prefix and a payload in two.
  const cuts = [1, 4, 11, stream.length];
  let read = 0, offset = 0;
  const conn = {
    read(buffer: Uint8Array): Promise<number | null> {
      if (read === cuts.length) return Promise.resolve(null);
      const piece = stream.subarray(offset, cuts[read++]);
      buffer.set(piece);
      offset += piece.length;
      return Promise.resolve(piece.length);
    },
  };
  const received: string[] = [];
  for await (const datagram of readDatagrams(conn)) {
    received.push(new TextDecoder().decode(datagram));
  }
  assertEquals(received, ["first", "second"]);
});
