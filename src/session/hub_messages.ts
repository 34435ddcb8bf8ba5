// What the hub may send the agent (PROTOCOL.md section 2), checked with src/schema before the session
// acts on it: a hostile or buggy hub gets a log line, never a crash or a half-applied change.

import { z } from "../schema/mod.ts";
import type { Frame } from "../protocol/mod.ts";

const aliasSchema = z.looseObject({ alias: z.string(), aliasAddress: z.string() });

export const siteSchema = z.looseObject({
  siteId: z.number().int(),
  name: z.string().default(""),
  endpoint: z.string().default(""),
  relayEndpoint: z.string().optional(),
  publicKey: z.string(),
  serverIP: z.string(),
  serverPort: z.number().int().min(0).max(65534),
  remoteSubnets: z.array(z.string()).nullish().transform((v) => v ?? []),
  aliases: z.array(aliasSchema).nullish().transform((v) => v ?? []),
});
export type Site = z.output<typeof siteSchema>;

export const connectSchema = z.looseObject({
  sites: z.array(siteSchema).nullish().transform((v) => v ?? []),
  tunnelIP: z.string(),
  utilitySubnet: z.string().optional(),
  chainId: z.string().optional(),
});

export const peerUpdateSchema = z.looseObject({
  siteId: z.number().int(),
  name: z.string().optional(),
  endpoint: z.string().optional(),
  relayEndpoint: z.string().optional(),
  publicKey: z.string().optional(),
  serverIP: z.string().optional(),
  serverPort: z.number().int().min(0).max(65534).optional(),
  remoteSubnets: z.array(z.string()).optional(),
  aliases: z.array(aliasSchema).optional(),
});

export const peerRemoveSchema = z.looseObject({
  siteId: z.number().int(),
  publicKey: z.string().optional(),
});
export const relaySchema = z.looseObject({
  siteId: z.number().int(),
  relayEndpoint: z.string(),
  relayPort: z.number().int().min(1).max(65535).optional(),
});
export const unrelaySchema = z.looseObject({ siteId: z.number().int(), endpoint: z.string() });
export const syncSchema = z.looseObject({ sites: z.array(siteSchema) });
export const errorSchema = z.looseObject({
  code: z.union([z.string(), z.number()]).transform(String).default("error"),
  message: z.string().default(""),
});

/**
 * Decodes one WebSocket message: JSON text, or gzip-compressed binary carrying the same JSON.
 *
 * @returns the frame, or null when it is not a JSON object with a string `type`
 */
export async function decodeFrame(data: string | ArrayBuffer | Blob): Promise<Frame | null> {
  let text: string;
  if (typeof data === "string") {
    text = data;
  } else {
    const bytes = data instanceof Blob ? await data.arrayBuffer() : data;
    try {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      text = await new Response(stream).text();
    } catch {
      return null;
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== "object" || typeof (value as Frame).type !== "string") {
    return null;
  }
  return value as Frame;
}
