// flowID stability and the big-integer JSON writer.
import { assert, assertEquals, assertNotEquals } from "../_support/assert.ts";
import { flowId } from "../../src/rules/flow_id.ts";
import { stringifyJson } from "../../src/protocol/mod.ts";

Deno.test("flowId() is stable, 64-bit and distinct per rule", () => {
  assertEquals(flowId("http", "a.example.com"), flowId("http", "a.example.com"));
  assertNotEquals(flowId("http", "a.example.com"), flowId("http", "b.example.com"));
  assertNotEquals(flowId("port", 22), flowId("http", "22"));
  for (const id of [flowId("port", 1), flowId("http", "x.y")]) {
    assert(id >= 0n && id < 1n << 64n);
  }
});

Deno.test("stringifyJson() writes integers above 2^53 exactly", () => {
  const id = 12948771731084390768n;
  const text = stringifyJson({ services: [{ flowID: id, available: false }], skip: undefined });
  assertEquals(text, '{"services":[{"flowID":12948771731084390768,"available":false}]}');
  const plain = { a: 'x"y', b: [1, null, true], c: { d: 1.5 } };
  assertEquals(stringifyJson(plain), JSON.stringify(plain));
});
