// DNS messages (RFC 1035 section 4): just enough of the codec for a stub proxy. Reads a
// message's header, questions and answer records (names with compression pointers), and builds
// answers to a query (the question echoed, records with uncompressed names). Pure, no I/O.

import { concat } from "../net/mod.ts";

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28 } as const;
export const CLASS_IN = 1;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

const HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;
/** A compression pointer chain longer than this is a loop. */
const MAX_POINTERS = 32;

/** A message this codec cannot read: the caller answers FORMERR (or drops it). */
export class DnsFormatError extends Error {
  override name = "DnsFormatError";
}

export interface DnsQuestion {
  /** Lower-case, without the trailing dot ("" for the root). */
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** RDATA as on the wire (names inside it not expanded). */
  data: Uint8Array;
}

export interface DnsMessage {
  id: number;
  /** The 16 flag bits: QR, opcode, AA, TC, RD, RA, Z, RCODE. */
  flags: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
}

export const isResponse = (flags: number) => (flags & 0x8000) !== 0;
export const opcodeOf = (flags: number) => (flags >> 11) & 0xf;
export const rcodeOf = (flags: number) => flags & 0xf;
export const isTruncated = (flags: number) => (flags & 0x0200) !== 0;

/** Reads a name at `offset`; returns it and the offset after it (after the first pointer). */
function readName(bytes: Uint8Array, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let cursor = offset;
  let next = -1;
  let pointers = 0;
  let length = 0;
  while (true) {
    if (cursor >= bytes.length) throw new DnsFormatError("name runs past the message");
    const size = bytes[cursor];
    if ((size & 0xc0) === 0xc0) {
      if (cursor + 1 >= bytes.length) throw new DnsFormatError("truncated compression pointer");
      if (++pointers > MAX_POINTERS) throw new DnsFormatError("compression pointer loop");
      if (next < 0) next = cursor + 2;
      cursor = ((size & 0x3f) << 8) | bytes[cursor + 1];
      continue;
    }
    if (size & 0xc0) throw new DnsFormatError("unknown label type");
    cursor++;
    if (size === 0) break;
    if (cursor + size > bytes.length) throw new DnsFormatError("label runs past the message");
    length += size + 1;
    if (length > MAX_NAME_BYTES) throw new DnsFormatError("name longer than 255 bytes");
    labels.push(
      String.fromCharCode(...bytes.subarray(cursor, cursor + size)).toLowerCase(),
    );
    cursor += size;
  }
  return { name: labels.join("."), next: next < 0 ? cursor : next };
}

/** Wire form of a name (no compression). */
export function encodeName(name: string): Uint8Array {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const labels = trimmed === "" ? [] : trimmed.split(".");
  const out: number[] = [];
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL_BYTES) {
      throw new DnsFormatError(`bad label in ${JSON.stringify(name)}`);
    }
    out.push(label.length);
    for (let i = 0; i < label.length; i++) out.push(label.charCodeAt(i) & 0xff);
  }
  out.push(0);
  if (out.length > MAX_NAME_BYTES) throw new DnsFormatError("name longer than 255 bytes");
  return new Uint8Array(out);
}

/**
 * Reads the header, the questions and the answer section of a message (authority and
 * additional records are left unread: a proxy passes them through or drops them).
 *
 * @throws {DnsFormatError} when any of those parts is malformed
 */
export function parseMessage(bytes: Uint8Array): DnsMessage {
  if (bytes.length < HEADER_BYTES) throw new DnsFormatError("shorter than a DNS header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const id = view.getUint16(0), flags = view.getUint16(2);
  const qdcount = view.getUint16(4), ancount = view.getUint16(6);
  let offset = HEADER_BYTES;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qdcount; i++) {
    const { name, next } = readName(bytes, offset);
    if (next + 4 > bytes.length) throw new DnsFormatError("truncated question");
    questions.push({ name, type: view.getUint16(next), class: view.getUint16(next + 2) });
    offset = next + 4;
  }
  const answers: DnsRecord[] = [];
  for (let i = 0; i < ancount; i++) {
    const { name, next } = readName(bytes, offset);
    if (next + 10 > bytes.length) throw new DnsFormatError("truncated record");
    const length = view.getUint16(next + 8);
    if (next + 10 + length > bytes.length) throw new DnsFormatError("record data runs past");
    answers.push({
      name,
      type: view.getUint16(next),
      class: view.getUint16(next + 2),
      ttl: view.getUint32(next + 4),
      data: bytes.slice(next + 10, next + 10 + length),
    });
    offset = next + 10 + length;
  }
  return { id, flags, questions, answers };
}

export interface AnswerOptions {
  rcode: number;
  /** Authoritative answer bit. */
  authoritative: boolean;
  answers?: readonly DnsRecord[];
}

/**
 * The response to `query`: same id and opcode, RD copied, RA set, the (first) question echoed.
 */
export function buildResponse(query: DnsMessage, options: AnswerOptions): Uint8Array {
  const question = query.questions[0];
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint16(0, query.id);
  const flags = 0x8000 | (opcodeOf(query.flags) << 11) | (options.authoritative ? 0x0400 : 0) |
    (query.flags & 0x0100) | 0x0080 | (options.rcode & 0xf);
  view.setUint16(2, flags);
  view.setUint16(4, question ? 1 : 0);
  const answers = options.answers ?? [];
  view.setUint16(6, answers.length);
  parts.push(header);
  if (question) parts.push(encodeName(question.name), u16pair(question.type, question.class));
  for (const record of answers) {
    const fixed = new Uint8Array(10);
    const fv = new DataView(fixed.buffer);
    fv.setUint16(0, record.type);
    fv.setUint16(2, record.class);
    fv.setUint32(4, record.ttl);
    fv.setUint16(8, record.data.length);
    parts.push(encodeName(record.name), fixed, record.data);
  }
  return concat(parts);
}

/** A minimal query (RD set) for `name`; used by tests and health checks. */
export function buildQuery(id: number, name: string, type: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint16(0, id);
  view.setUint16(2, 0x0100);
  view.setUint16(4, 1);
  return concat([header, encodeName(name), u16pair(type, CLASS_IN)]);
}

/** The header-only error answer for a message too broken to echo (id kept when readable). */
export function formatErrorFor(bytes: Uint8Array): Uint8Array | null {
  if (bytes.length < 4 || isResponse((bytes[2] << 8) | bytes[3])) return null;
  const header = new Uint8Array(HEADER_BYTES);
  header.set(bytes.subarray(0, 2));
  header[2] = 0x80 | (bytes[2] & 0x79); // QR, opcode and RD copied
  header[3] = 0x80 | RCODE.FORMERR;
  return header;
}

function u16pair(a: number, b: number): Uint8Array {
  return new Uint8Array([a >> 8, a & 0xff, b >> 8, b & 0xff]);
}
