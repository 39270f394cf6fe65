/**
 * The DNS wire format (RFC 1035 section 4), as far as a lookup needs it: the
 * header (id, QR, opcode, TC, RCODE), the first question, and the A and AAAA
 * records of the answer section in order (CNAME and every other type
 * skipped). Authority and additional sections are not read.
 *
 * The input is whatever arrived on a DNS client socket: any local user can
 * send anything there. Every read is bounds-checked, a compressed name may
 * only point backwards (so pointers cannot loop) and is at most 255 bytes on
 * the wire; anything else is a malformed message, returned, never thrown.
 * A message the kernel cut (longer than it copies) is read as far as it is
 * complete.
 */
import { AF_INET, AF_INET6, formatAddress } from '../decode/tcp-connect';

export const DNS_HEADER_SIZE = 12;
/** RFC 1035 3.1: a name is at most 255 bytes on the wire, a label at most 63. */
const NAME_WIRE_MAX = 255;
const LABEL_MAX = 63;

/** Record types by number; the readable name of the ones a lookup asks for. */
export const DnsRecordType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, SVCB: 64, HTTPS: 65, ANY: 255 } as const;
const TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(DnsRecordType).map(([name, n]) => [n, name]));

/** The mnemonic of a record type: A, AAAA, ..., else TYPE<n> (RFC 3597). */
export function recordTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** RCODE mnemonics (RFC 1035 4.1.1, RFC 2136, RFC 8490), index = value. */
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'DSOTYPENI'] as const;
export const DnsRcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;

/** The mnemonic of a header RCODE: NOERROR, NXDOMAIN, ..., else RCODE<n>. */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

export interface DnsAnswer {
  readonly type: typeof DnsRecordType.A | typeof DnsRecordType.AAAA;
  /** Dotted quad, or RFC 5952 text. */
  readonly address: string;
}

export interface DnsMessage {
  readonly id: number;
  /** QR: a response (not a query). */
  readonly response: boolean;
  readonly opcode: number;
  /** TC: the server cut the answer to fit UDP (the client retries over TCP, unseen). */
  readonly truncated: boolean;
  readonly rcode: number;
  /** The first question: what was asked. */
  readonly question: { readonly name: string; readonly type: number; readonly class: number };
  /** A and AAAA records of the answer section, in the message's order. */
  readonly answers: readonly DnsAnswer[];
  /** Records of the answer section read, of any type (CNAMEs, and the answers to other questions than A and AAAA). */
  readonly answerRecords: number;
  /** False when the capture ended before every answer record the header announces. */
  readonly complete: boolean;
}

export type DnsParseResult = { readonly ok: true; readonly message: DnsMessage } | { readonly ok: false; readonly reason: string };

class Malformed extends Error {}
/** The capture ended here (only an error when the message was not cut). */
class OutOfData extends Error {}

/**
 * Parses one message. `cut`: the bytes are the start of a longer message
 * (the kernel's copy is bounded): running out of them then ends the answers
 * early instead of making the message malformed.
 */
export function parseDnsMessage(msg: Uint8Array, cut = false): DnsParseResult {
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (buf.length < DNS_HEADER_SIZE) return { ok: false, reason: `${buf.length} bytes: shorter than a DNS header` };
  const id = buf.readUInt16BE(0);
  const bits = buf.readUInt16BE(2);
  const qdcount = buf.readUInt16BE(4);
  const ancount = buf.readUInt16BE(6);
  const response = (bits & 0x8000) !== 0;
  const opcode = (bits >> 11) & 0xf;
  if (qdcount === 0) return { ok: false, reason: 'no question' };
  let question: DnsMessage['question'];
  let at = DNS_HEADER_SIZE;
  try {
    const name = readName(buf, at);
    at = name.next;
    need(buf, at, 4);
    question = { name: name.text, type: buf.readUInt16BE(at), class: buf.readUInt16BE(at + 2) };
    at += 4;
  } catch (err) {
    return { ok: false, reason: `question: ${reason(err)}` };
  }
  const answers: DnsAnswer[] = [];
  let answerRecords = 0;
  let complete = true;
  try {
    // Further questions (never seen in practice) are skipped.
    for (let i = 1; i < qdcount; i++) {
      at = readName(buf, at).next + 4;
      need(buf, at, 0);
    }
    for (let i = 0; i < ancount; i++) {
      at = readName(buf, at).next;
      need(buf, at, 10);
      const type = buf.readUInt16BE(at);
      const rdlength = buf.readUInt16BE(at + 8);
      at += 10;
      need(buf, at, rdlength);
      if (type === DnsRecordType.A || type === DnsRecordType.AAAA) {
        const size = type === DnsRecordType.A ? 4 : 16;
        if (rdlength !== size) throw new Malformed(`answer ${i + 1}: ${recordTypeName(type)} record of ${rdlength} bytes`);
        answers.push({ type, address: formatAddress(type === DnsRecordType.A ? AF_INET : AF_INET6, buf.subarray(at, at + size)) });
      }
      at += rdlength;
      answerRecords++;
    }
  } catch (err) {
    if (!(err instanceof OutOfData) || !cut) return { ok: false, reason: `answers: ${reason(err)}` };
    complete = false;
  }
  return {
    ok: true,
    message: { id, response, opcode, truncated: (bits & 0x0200) !== 0, rcode: bits & 0xf, question, answers, answerRecords, complete },
  };
}

function reason(err: unknown): string {
  if (err instanceof Malformed) return err.message;
  if (err instanceof OutOfData) return 'runs past the end of the message';
  throw err;
}

function need(buf: Buffer, at: number, n: number): void {
  if (at + n > buf.length) throw new OutOfData();
}

/**
 * A (possibly compressed) name at `start`: its presentation text and where
 * the bytes after it begin. A pointer must point before itself, which also
 * bounds the number of jumps.
 */
function readName(buf: Buffer, start: number): { text: string; next: number } {
  const labels: string[] = [];
  let at = start;
  let next = -1;
  let wire = 0;
  let lowest = start; // pointers must go below every position visited so far
  for (;;) {
    need(buf, at, 1);
    const len = buf[at] as number;
    if ((len & 0xc0) === 0xc0) {
      need(buf, at, 2);
      const target = buf.readUInt16BE(at) & 0x3fff;
      if (target >= lowest) throw new Malformed(`compression pointer at ${at} to ${target} does not point back`);
      if (next === -1) next = at + 2;
      lowest = target;
      at = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new Malformed(`label type 0x${(len & 0xc0).toString(16)} at ${at}`);
    wire += len + 1;
    if (wire > NAME_WIRE_MAX) throw new Malformed(`name longer than ${NAME_WIRE_MAX} bytes`);
    if (len === 0) {
      if (next === -1) next = at + 1;
      return { text: labels.length === 0 ? '.' : labels.join('.'), next };
    }
    if (len > LABEL_MAX) throw new Malformed(`label of ${len} bytes`);
    need(buf, at + 1, len);
    labels.push(labelText(buf, at + 1, len));
    at += 1 + len;
  }
}

/** A label in presentation form (RFC 4343 2.1): printable ASCII as is, '.' and '\' escaped, other bytes as \DDD. */
function labelText(buf: Buffer, start: number, len: number): string {
  let text = '';
  for (let i = start; i < start + len; i++) {
    const c = buf[i] as number;
    if (c === 0x2e || c === 0x5c) text += `\\${String.fromCharCode(c)}`;
    else if (c > 0x20 && c < 0x7f) text += String.fromCharCode(c);
    else text += `\\${c.toString().padStart(3, '0')}`;
  }
  return text;
}
