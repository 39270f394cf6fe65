/**
 * A DNS response read at the socket, turned into the lookup the libc source
 * would have reported, so names on connects, spans, metrics, sampling and
 * redaction handle both the same way. One lookup per response: glibc asks A
 * and AAAA in parallel, so one getaddrinfo() is two lookups here, each with
 * its record type.
 *
 * A response whose id is none of the socket's last queries' is not taken
 * (the resolver would drop it too): a local user who can send to the socket
 * cannot answer in the process's name without guessing the id.
 *
 * The outcome uses the error.type values the C library gives for the same
 * answer (glibc's res_query.c and getaddrinfo(); see EAI_ERRORS in
 * decode/dns.ts): NXDOMAIN is host_not_found, SERVFAIL and REFUSED are
 * temporary_failure (glibc tries the next server, then EAI_AGAIN), FORMERR,
 * NOTIMP and the rest no_recovery, NOERROR without an answer of the type
 * asked no_data. The RCODE itself is kept as the result code.
 */
import { DNS_ADDR_MAX, DnsFlag, type DnsLookupEvent, type DnsOutcome } from '../decode/dns';
import type { DnsResponseEvent } from '../decode/dns-response';
import { DnsRcode, DnsRecordType, parseDnsMessage, rcodeName, recordTypeName } from './wire';

/**
 * Who asked, when, the name and the answers: the libc source's fields, with these meanings:
 * startNs/endNs the query's first unanswered send and the response (CLOCK_MONOTONIC); pid/tid the
 * receiving thread; name the question's, in presentation form; addresses the A and AAAA answers in
 * the response's order, repeats folded, at most DNS_ADDR_MAX; flags DnsFlag.MoreAddrs beyond.
 */
export interface DnsResponseLookup
  extends Pick<DnsLookupEvent, 'startNs' | 'endNs' | 'cgroupId' | 'pid' | 'tid' | 'uid' | 'gid' | 'comm' | 'name' | 'addresses' | 'flags'> {
  readonly kind: 'dns_response_lookup';
  /** The question's type: A, AAAA, HTTPS, ... */
  readonly recordType: string;
  /** NOERROR, NXDOMAIN, ... */
  readonly resultCode: string;
  readonly outcome: DnsOutcome;
  readonly server: string;
  readonly serverPort: number;
  /** TC set (the client asks again over TCP, which is not seen), or the capture was cut before the last answer. */
  readonly answersIncomplete: boolean;
}

/** Why a message is not taken: not a DNS response at all, or not the answer to a query the socket sent (its id). */
export type ResponseResult =
  | { readonly ok: true; readonly lookup: DnsResponseLookup }
  | { readonly ok: false; readonly why: 'malformed' | 'unmatched'; readonly reason: string };

/** The lookup a response answers; a message that is not a DNS response is returned as malformed, with why. */
export function lookupFromResponse(event: DnsResponseEvent): ResponseResult {
  const parsed = parseDnsMessage(event.message, event.cut);
  if (!parsed.ok) return { ok: false, why: 'malformed', reason: parsed.reason };
  const m = parsed.message;
  if (!m.response) return { ok: false, why: 'malformed', reason: 'a query, not a response (QR clear)' };
  if (m.opcode !== 0) return { ok: false, why: 'malformed', reason: `opcode ${m.opcode}, not a standard query` };
  // The resolver drops a response whose id it did not send; so do we (anyone can send to the socket).
  if (event.queryIds !== undefined && !event.queryIds.includes(m.id)) {
    return { ok: false, why: 'unmatched', reason: `id ${m.id}, the socket asked ${event.queryIds.join(', ')}` };
  }
  const addresses: string[] = [];
  let flags = 0;
  for (const { address } of m.answers) {
    if (addresses.includes(address)) continue;
    if (addresses.length === DNS_ADDR_MAX) {
      flags |= DnsFlag.MoreAddrs;
      break;
    }
    addresses.push(address);
  }
  const addressQuestion = m.question.type === DnsRecordType.A || m.question.type === DnsRecordType.AAAA;
  const answered = addressQuestion ? m.answers.length > 0 : m.answerRecords > 0;
  return {
    ok: true,
    lookup: {
      kind: 'dns_response_lookup',
      // A receive with no send before it on the socket cannot happen (the socket is marked by its send).
      startNs: event.sendNs > 0n && event.sendNs <= event.recvNs ? event.sendNs : event.recvNs,
      endNs: event.recvNs,
      cgroupId: event.cgroupId,
      pid: event.pid,
      tid: event.tid,
      uid: event.uid,
      gid: event.gid,
      comm: event.comm,
      name: m.question.name,
      addresses,
      flags,
      recordType: recordTypeName(m.question.type),
      resultCode: rcodeName(m.rcode),
      outcome: rcodeOutcome(m.rcode, answered),
      server: event.server,
      serverPort: event.serverPort,
      answersIncomplete: m.truncated || !m.complete,
    },
  };
}

/** What the C library would have reported for this RCODE. */
export function rcodeOutcome(rcode: number, answered: boolean): DnsOutcome {
  const code = rcodeName(rcode);
  switch (rcode) {
    case DnsRcode.NoError:
      return answered ? { ok: true, outcome: 'success' } : { ok: false, outcome: 'no_data', code };
    case DnsRcode.NxDomain:
      return { ok: false, outcome: 'host_not_found', code };
    case DnsRcode.ServFail:
    case DnsRcode.Refused:
      return { ok: false, outcome: 'temporary_failure', code };
    default:
      return { ok: false, outcome: 'no_recovery', code };
  }
}
