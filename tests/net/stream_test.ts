// The one relay and the stream helpers: half-close passed on in both directions, bytes sent
// first, buffered readers in front of a side, writes taken in parts, capped opening reads.
import { assert, assertEquals, assertRejects } from "../_support/assert.ts";
import {
  type ByteStream,
  concat,
  readOpening,
  readStreamCapped,
  relay,
  RELAY_BUFFER_SIZES,
  writeAll,
} from "../../src/net/stream.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Reads until EOF. */
async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) return concat(chunks);
    chunks.push(buffer.slice(0, n));
  }
}

/** A connected loopback pair: [what the test holds, what the relay gets]. */
async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [outer, inner] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  return [outer, inner];
}

Deno.test("relay() copies both ways, sends `first` ahead and passes each half-close on", async () => {
  const [client, clientSide] = await pair();
  const [server, serverSide] = await pair();
  const relayed = relay(clientSide, serverSide, { first: bytes("hello ") });
  await writeAll(client, bytes("from client"));
  await client.closeWrite();
  // The server sees the client's EOF and can still answer afterwards.
  assertEquals(text(await readAll(server)), "hello from client");
  await writeAll(server, bytes("answer after EOF"));
  await server.closeWrite();
  assertEquals(text(await readAll(client)), "answer after EOF");
  await relayed;
  client.close();
  server.close();
});

Deno.test("relay() reads a side through its reader (bytes read ahead come first)", async () => {
  const [client, clientSide] = await pair();
  const [server, serverSide] = await pair();
  let ahead: Uint8Array | null = bytes("ahead+");
  const reader = {
    read(p: Uint8Array): Promise<number | null> {
      if (!ahead) return clientSide.read(p);
      p.set(ahead);
      const n = ahead.length;
      ahead = null;
      return Promise.resolve(n);
    },
  };
  const relayed = relay(clientSide, serverSide, { readA: reader });
  await writeAll(client, bytes("live"));
  await client.closeWrite();
  assertEquals(text(await readAll(server)), "ahead+live");
  server.close();
  await relayed;
  client.close();
});

Deno.test("relay() ends once both directions ended and closes both sides", async () => {
  const [client, clientSide] = await pair();
  const [server, serverSide] = await pair();
  const relayed = relay(clientSide, serverSide);
  server.close();
  // The server's end arrives at the client as EOF; the client may still send until it is done.
  assertEquals((await readAll(client)).length, 0);
  await client.closeWrite();
  await relayed;
  await assertRejects(() => clientSide.read(new Uint8Array(1)), Deno.errors.BadResource);
  client.close();
});

Deno.test("writeAll() keeps writing until a writer took every byte", async () => {
  const taken: number[] = [];
  const writer = {
    write(p: Uint8Array): Promise<number> {
      const n = Math.min(3, p.length);
      taken.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  await writeAll(writer, bytes("0123456789"));
  assertEquals(text(Uint8Array.from(taken)), "0123456789");
});

Deno.test("readOpening() reads until the parser decides, and gives up at the cap or EOF", async () => {
  const source = (parts: string[]) => {
    const queue = parts.map(bytes);
    return {
      read(p: Uint8Array): Promise<number | null> {
        const next = queue.shift();
        if (!next) return Promise.resolve(null);
        const n = Math.min(p.length, next.length);
        p.set(next.subarray(0, n));
        if (n < next.length) queue.unshift(next.subarray(n));
        return Promise.resolve(n);
      },
    };
  };
  const untilBang = (data: Uint8Array) =>
    data.includes(33) ? { kind: "found" as const, at: data.indexOf(33) } : { kind: "need-more" };
  const found = await readOpening(source(["ab", "c!", "rest"]), untilBang, 64, bytes(">"));
  assert(found !== null && found.verdict.kind === "found");
  assertEquals(text(found.bytes), ">abc!");
  assertEquals(await readOpening(source(["abc"]), untilBang, 64), null, "EOF first");
  assertEquals(await readOpening(source(["x".repeat(40), "y".repeat(40)]), untilBang, 64), null);
});

Deno.test("readStreamCapped() reads a whole stream, or cancels it past the cap", async () => {
  const stream = (n: number) => new Blob([new Uint8Array(n)]).stream();
  assertEquals((await readStreamCapped(stream(1000), 1000))?.length, 1000);
  assertEquals(await readStreamCapped(stream(1001), 1000), null);
});

// Type check: a Deno connection is a ByteStream.
const _conn: (c: Deno.Conn) => ByteStream = (c) => c;

Deno.test("relay() starts each direction small, grows its buffer only while reads fill it, counts", async () => {
  // A side whose reads fill whatever they are offered (a bulk stream) and one whose reads are
  // short (a chatty one): the sizes offered to each are recorded.
  const offered = { bulk: [] as number[], chatty: [] as number[] };
  const source = (name: "bulk" | "chatty", reads: number) => {
    let left = reads;
    return {
      read(p: Uint8Array): Promise<number | null> {
        offered[name].push(p.length);
        if (left-- === 0) return Promise.resolve(null);
        return Promise.resolve(name === "bulk" ? p.length : 10);
      },
    };
  };
  let written = 0;
  const sink = (): ByteStream => ({
    read: () => Promise.resolve(null),
    write: (p) => {
      written += p.length;
      return Promise.resolve(p.length);
    },
    close() {},
  });
  const counted = { a: 0, b: 0 };
  await relay(sink(), sink(), {
    readA: source("bulk", 4),
    readB: source("chatty", 4),
    countA: (n) => counted.a += n,
    countB: (n) => counted.b += n,
  });
  const [small, middle, large] = RELAY_BUFFER_SIZES;
  assertEquals(offered.bulk, [small, middle, large, large, large]);
  assertEquals(offered.chatty, [small, small, small, small, small]);
  assertEquals(written, small + middle + 2 * large + 4 * 10);
  // Each direction's chunks are counted as they are read.
  assertEquals(counted, { a: small + middle + 2 * large, b: 4 * 10 });
});
