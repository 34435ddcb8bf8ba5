// Stand-ins for what an agent serves on its tunnel address in hub tests: servers that read the
// hub's PROXY v2 header first and then echo, answer HTTP, or pass the stream to a TLS server.

import { decodeProxyV2, type ProxyHeader } from "../../src/net/proxy_v2.ts";
import { relay } from "../../src/net/stream.ts";

export interface AgentServer {
  port: number;
  close(): Promise<void>;
}

/** Reads the PROXY v2 header; returns it with the bytes that followed it. */
export async function readProxyHeader(
  conn: Deno.Conn,
): Promise<{ header: ProxyHeader; rest: Uint8Array } | null> {
  let data = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  while (true) {
    const result = decodeProxyV2(data);
    if (result.kind === "header") return { header: result.header, rest: data.slice(result.length) };
    if (result.kind === "invalid") return null;
    const n = await conn.read(buffer);
    if (n === null) return null;
    const joined = new Uint8Array(data.length + n);
    joined.set(data);
    joined.set(buffer.subarray(0, n), data.length);
    data = joined;
  }
}

function serveConns(
  listener: Deno.Listener,
  handle: (conn: Deno.Conn) => Promise<void>,
): AgentServer {
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const task = handle(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      try {
        listener.close();
      } catch { /* closed */ }
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await loop;
      await Promise.allSettled([...tasks]);
    },
  };
}

const text = (s: string) => new TextEncoder().encode(s);

/** Writes `src=IP:PORT\n`, then echoes. */
export function startEchoServer(hostname = "127.0.0.1", port = 0): AgentServer {
  return serveConns(Deno.listen({ hostname, port }), async (conn) => {
    const got = await readProxyHeader(conn);
    if (!got) return;
    const source = got.header.source;
    await conn.write(text(`src=${source?.address}:${source?.port}\n`));
    if (got.rest.length) await conn.write(got.rest);
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      let written = 0;
      while (written < n) written += await conn.write(buffer.subarray(written, n));
    }
  });
}

/** Answers one HTTP request with `agent=NAME host=HOST src=IP`. */
export function startHttpServer(name: string, hostname = "127.0.0.1", port = 0): AgentServer {
  return serveConns(Deno.listen({ hostname, port }), async (conn) => {
    const got = await readProxyHeader(conn);
    if (!got) return;
    let head = new TextDecoder().decode(got.rest);
    const buffer = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) return;
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const host = /^host:\s*(\S+)/im.exec(head)?.[1] ?? "";
    const body = `agent=${name} host=${host} src=${got.header.source?.address}\n`;
    await conn.write(text(
      `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    ));
  });
}

/**
 * A TLS site behind a PROXY-aware front: the front strips the header and passes the raw
 * stream to a TLS server that answers `agent=NAME tls src=IP`.
 */
export function startTlsSite(
  name: string,
  cert: string,
  key: string,
  hostname = "127.0.0.1",
  port = 0,
): AgentServer {
  const sources = new Map<number, string>();
  const tls = serveConns(
    Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key }),
    async (conn) => {
      const buffer = new Uint8Array(4096);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head += new TextDecoder().decode(buffer.subarray(0, n));
      }
      const src = sources.get((conn.remoteAddr as Deno.NetAddr).port) ?? "?";
      const body = `agent=${name} tls src=${src}\n`;
      await conn.write(text(
        `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      ));
    },
  );
  const front = serveConns(Deno.listen({ hostname, port }), async (conn) => {
    const got = await readProxyHeader(conn);
    if (!got) return;
    const inner = await Deno.connect({ hostname: "127.0.0.1", port: tls.port });
    sources.set(inner.localAddr.port, got.header.source?.address ?? "?");
    try {
      if (got.rest.length) await inner.write(got.rest);
      await Promise.all([
        conn.readable.pipeTo(inner.writable, { preventClose: false }).catch(() => {}),
        inner.readable.pipeTo(conn.writable, { preventClose: false }).catch(() => {}),
      ]);
    } finally {
      try {
        inner.close();
      } catch { /* closed */ }
    }
  });
  return {
    port: front.port,
    async close() {
      await front.close();
      await tls.close();
    },
  };
}

/** What an agent does for a TCP forward: strip the PROXY header, connect to 127.0.0.1:target. */
export function startForwarder(hostname: string, port: number, target: number): AgentServer {
  return serveConns(Deno.listen({ hostname, port }), async (conn) => {
    const got = await readProxyHeader(conn);
    if (!got) return;
    const inner = await Deno.connect({ hostname: "127.0.0.1", port: target });
    inner.setNoDelay(true);
    await relay(conn, inner, { first: got.rest });
  });
}
