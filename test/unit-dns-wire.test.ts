/**
 * The socket source's pure parts: the DNS wire-format decoder (table-driven,
 * with hostile messages: pointer loops, forward pointers, huge counts, cut
 * captures, garbage), a response turned into a lookup (RCODE -> error.type
 * as the C library reports it), the kernel record's decoder, and the span a
 * socket lookup becomes (real SDK, in memory).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { KernelClock } from '../receiver/src/clock';
import { DnsFlag } from '../receiver/src/decode/dns';
import { decodeDnsResponse, DNS_RESPONSE_LAYOUT, DNSSOCK_MSG_MAX, DnsSockFlag, type DnsResponseEvent } from '../receiver/src/decode/dns-response';
import { decodeEvent } from '../receiver/src/decode/index';
import { DecodeError, EventType } from '../receiver/src/decode/layout';
import { parseAddress } from '../receiver/src/decode/tcp-connect';
import { DnsLookups, lookupOutcome } from '../receiver/src/dns/lookups';
import { PeerNames } from '../receiver/src/dns/names';
import { lookupFromResponse } from '../receiver/src/dns/responses';
import { SpanGate } from '../receiver/src/sampling';
import { DnsLookupSpanBuilder } from '../receiver/src/dns/spans';
import { parseDnsMessage, rcodeName, recordTypeName, type DnsMessage } from '../receiver/src/dns/wire';
import { buildRecord } from './helpers/event-builder';

const A = 1;
const CNAME = 5;
const AAAA = 28;
const HTTPS = 65;

/** A name in wire form, uncompressed. */
function wireName(name: string): Buffer {
  if (name === '.') return Buffer.from([0]);
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}
/** A compression pointer to `offset`. */
function pointer(offset: number): Buffer {
  return Buffer.from([0xc0 | (offset >> 8), offset & 0xff]);
}
const TO_QUESTION = pointer(12);

function header(o: { id?: number; qr?: boolean; opcode?: number; tc?: boolean; rcode?: number; qd?: number; an?: number }): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(o.id ?? 0x1234, 0);
  b.writeUInt16BE(((o.qr ?? true) ? 0x8000 : 0) | ((o.opcode ?? 0) << 11) | (o.tc ? 0x0200 : 0) | 0x0100 | 0x0080 | (o.rcode ?? 0), 2);
  b.writeUInt16BE(o.qd ?? 1, 4);
  b.writeUInt16BE(o.an ?? 0, 6);
  return b;
}
function question(name: string | Buffer, type = A): Buffer {
  const t = Buffer.alloc(4);
  t.writeUInt16BE(type, 0);
  t.writeUInt16BE(1, 2);
  return Buffer.concat([typeof name === 'string' ? wireName(name) : name, t]);
}
function record(name: Buffer, type: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(300, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([name, fixed, rdata]);
}
const addr = (text: string): Buffer => {
  const { family, bytes } = parseAddress(text);
  return Buffer.from(bytes.subarray(0, family === 2 ? 4 : 16));
};
function message(h: Parameters<typeof header>[0], ...parts: Buffer[]): Buffer {
  return Buffer.concat([header(h), ...parts]);
}

const WEB = message({ an: 1 }, question('web.example'), record(TO_QUESTION, A, addr('93.184.215.14')));
// "www.example" CNAME "web.example" (the target compressed against the question's "example"), then its A and AAAA records.
const CNAME_CHAIN = (() => {
  const q = question('www.example');
  const webAt = 12 + q.length + 2 + 10; // the CNAME's rdata
  const cnameTarget = Buffer.concat([Buffer.from([3]), Buffer.from('web'), pointer(12 + 4)]); // "web" + ".example" of the question
  return message({ an: 4 }, q,
    record(TO_QUESTION, CNAME, cnameTarget),
    record(pointer(webAt), A, addr('10.0.0.1')),
    record(pointer(webAt), AAAA, addr('2001:db8::1')),
    record(pointer(webAt), A, addr('10.0.0.2')));
})();

describe('DNS wire format: what a lookup needs', () => {
  const cases: Array<{ name: string; msg: Buffer; cut?: boolean; expect: Partial<DnsMessage> }> = [
    {
      name: 'an A answer, its owner compressed to the question',
      msg: WEB,
      expect: { id: 0x1234, response: true, opcode: 0, rcode: 0, truncated: false, question: { name: 'web.example', type: A, class: 1 }, answers: [{ type: A, address: '93.184.215.14' }], answerRecords: 1, complete: true },
    },
    {
      name: 'a CNAME chain: only A and AAAA, in order; CNAME counted, not an answer',
      msg: CNAME_CHAIN,
      expect: { question: { name: 'www.example', type: A, class: 1 }, answers: [{ type: A, address: '10.0.0.1' }, { type: AAAA, address: '2001:db8::1' }, { type: A, address: '10.0.0.2' }], answerRecords: 4, complete: true },
    },
    {
      name: 'NXDOMAIN: no answers',
      msg: message({ rcode: 3 }, question('nope.example', AAAA)),
      expect: { rcode: 3, question: { name: 'nope.example', type: AAAA, class: 1 }, answers: [], complete: true },
    },
    {
      name: 'TC: the server cut the answer to fit',
      msg: message({ tc: true }, question('big.example')),
      expect: { truncated: true, answers: [] },
    },
    {
      name: 'a capture cut inside the second answer: the first is kept, marked incomplete',
      msg: message({ an: 2 }, question('two.example'), record(TO_QUESTION, A, addr('10.1.1.1')), record(TO_QUESTION, A, addr('10.1.1.2'))).subarray(0, 12 + 17 + 16 + 6),
      cut: true,
      expect: { answers: [{ type: A, address: '10.1.1.1' }], answerRecords: 1, complete: false },
    },
    {
      name: 'a huge answer count in a cut capture: as far as complete',
      msg: message({ an: 65535 }, question('many.example'), record(TO_QUESTION, A, addr('10.2.2.2'))),
      cut: true,
      expect: { answers: [{ type: A, address: '10.2.2.2' }], complete: false },
    },
    {
      name: 'bytes that are not printable ASCII, dots and backslashes in a label: presentation escapes',
      msg: message({}, question(Buffer.concat([Buffer.from([5, 0x61, 0x2e, 0x5c, 0x00, 0xff]), wireName('example')]))),
      expect: { question: { name: 'a\\.\\\\\\000\\255.example', type: A, class: 1 } },
    },
    {
      name: 'the root name',
      msg: message({}, question('.', 2)),
      expect: { question: { name: '.', type: 2, class: 1 } },
    },
    {
      name: 'a query (QR clear) parses; it is not a response',
      msg: message({ qr: false }, question('web.example')),
      expect: { response: false, answers: [] },
    },
    {
      name: 'authority and additional records are not read (EDNS OPT after the answers)',
      msg: Buffer.concat([message({ an: 1 }, question('web.example'), record(TO_QUESTION, A, addr('1.2.3.4'))), Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])]),
      expect: { answers: [{ type: A, address: '1.2.3.4' }] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parseDnsMessage(c.msg, c.cut);
      assert.ok(r.ok, r.ok ? '' : r.reason);
      for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(r.message[k as keyof DnsMessage], v, k);
    });
  }

  const q = question('web.example');
  const malformed: Array<{ name: string; msg: Buffer; reason: RegExp }> = [
    { name: 'shorter than a header', msg: Buffer.from([1, 2, 3]), reason: /shorter than a DNS header/ },
    { name: 'no question', msg: message({ qd: 0 }), reason: /no question/ },
    { name: 'a pointer to itself (a loop)', msg: message({}, pointer(12), Buffer.alloc(4)), reason: /question: compression pointer at 12 to 12 does not point back/ },
    { name: 'two pointers pointing at each other', msg: message({ an: 1 }, q, Buffer.concat([pointer(12 + q.length + 2), pointer(12 + q.length)])), reason: /does not point back/ },
    { name: 'a forward pointer', msg: message({}, pointer(40), Buffer.alloc(40)), reason: /does not point back/ },
    { name: 'a reserved label type (0x40)', msg: message({}, Buffer.from([0x41, 0x61, 0]), Buffer.alloc(4)), reason: /label type 0x40/ },
    { name: 'a name longer than 255 bytes', msg: message({}, question(Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.'))), reason: /name longer than 255 bytes/ },
    { name: 'the question runs past the end', msg: message({}, wireName('web.example'), Buffer.from([0, 1])), reason: /question: runs past the end/ },
    { name: 'a huge answer count, not cut', msg: message({ an: 65535 }, q, record(TO_QUESTION, A, addr('10.2.2.2'))), reason: /answers: runs past the end/ },
    { name: 'an rdlength past the end', msg: Buffer.concat([message({ an: 1 }, q), TO_QUESTION, Buffer.from([0, 1, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 1, 2])]), reason: /answers: runs past the end/ },
    { name: 'an A record of 5 bytes', msg: message({ an: 1 }, q, record(TO_QUESTION, A, Buffer.alloc(5))), reason: /answer 1: A record of 5 bytes/ },
    { name: 'an AAAA record of 4 bytes', msg: message({ an: 1 }, q, record(TO_QUESTION, AAAA, Buffer.alloc(4))), reason: /answer 1: AAAA record of 4 bytes/ },
  ];
  for (const c of malformed) {
    it(`malformed: ${c.name}`, () => {
      const r = parseDnsMessage(c.msg);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, c.reason);
    });
  }

  it('garbage never throws: 20,000 random messages, and every prefix of a real one, cut or not', () => {
    for (let i = 0; i < 20_000; i++) {
      const msg = randomBytes(12 + (i % 500));
      // Mostly plausible headers, so the name and record readers get exercised.
      if (i % 2 === 0) msg.writeUInt16BE(1, 4);
      const r = parseDnsMessage(msg, i % 3 === 0);
      assert.equal(typeof r.ok, 'boolean');
    }
    for (let n = 0; n <= CNAME_CHAIN.length; n++) {
      for (const cut of [true, false]) {
        const r = parseDnsMessage(CNAME_CHAIN.subarray(0, n), cut);
        if (r.ok) assert.ok(r.message.complete || cut);
      }
    }
  });

  it('names the RCODEs and record types', () => {
    assert.deepEqual([0, 2, 3, 5, 13].map(rcodeName), ['NOERROR', 'SERVFAIL', 'NXDOMAIN', 'REFUSED', 'RCODE13']);
    assert.deepEqual([1, 28, 65, 999].map(recordTypeName), ['A', 'AAAA', 'HTTPS', 'TYPE999']);
  });
});

function responseEvent(msg: Buffer, over: Partial<DnsResponseEvent> = {}): DnsResponseEvent {
  return {
    kind: 'dns_response', sendNs: 1_000n, recvNs: 5_000n, cgroupId: 7n, pid: 42, tid: 43, uid: 1000, gid: 1000,
    server: '127.0.0.53', serverPort: 53, message: msg, messageLength: msg.length, cut: false, queryIds: [0x1234], comm: 'curl', ...over,
  };
}

describe('a response as a lookup: the C library\'s error.type for its RCODE', () => {
  const cases: Array<[string, Buffer, string, string | undefined]> = [
    ['NOERROR with an A answer', WEB, 'success', undefined],
    ['NOERROR, a CNAME only (no address): no data', message({ an: 1 }, question('alias.example'), record(TO_QUESTION, CNAME, wireName('x.example'))), 'no_data', 'NOERROR'],
    ['NOERROR, no answer at all: no data', message({}, question('v6only.example', A)), 'no_data', 'NOERROR'],
    ['NXDOMAIN', message({ rcode: 3 }, question('nope.example')), 'host_not_found', 'NXDOMAIN'],
    ['SERVFAIL', message({ rcode: 2 }, question('broken.example')), 'temporary_failure', 'SERVFAIL'],
    ['REFUSED', message({ rcode: 5 }, question('elsewhere.example')), 'temporary_failure', 'REFUSED'],
    ['FORMERR', message({ rcode: 1 }, question('odd.example')), 'no_recovery', 'FORMERR'],
    ['an HTTPS question answered (no address in it): success', message({ an: 1 }, question('svc.example', HTTPS), record(TO_QUESTION, HTTPS, Buffer.from([0, 1, 0]))), 'success', undefined],
  ];
  for (const [name, msg, outcome, code] of cases) {
    it(`${name} -> ${outcome}`, () => {
      const r = lookupFromResponse(responseEvent(msg));
      assert.ok(r.ok, r.ok ? '' : r.reason);
      const o = lookupOutcome(r.lookup);
      assert.equal(o.outcome, outcome);
      assert.equal(o.code, code);
      assert.equal(r.lookup.resultCode, code ?? 'NOERROR');
    });
  }

  it('carries who, when, the server, the record type, the answers (repeats folded, at most 8)', () => {
    const answers = Array.from({ length: 10 }, (_, i) => record(TO_QUESTION, A, addr(`10.0.0.${i % 9}`)));
    const r = lookupFromResponse(responseEvent(message({ an: answers.length }, question('many.example'), ...answers)));
    assert.ok(r.ok);
    const l = r.lookup;
    assert.deepEqual(l.addresses, ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7']);
    assert.equal(l.flags & DnsFlag.MoreAddrs, DnsFlag.MoreAddrs);
    assert.deepEqual([l.startNs, l.endNs, l.pid, l.tid, l.comm, l.server, l.serverPort, l.recordType, l.name], [1_000n, 5_000n, 42, 43, 'curl', '127.0.0.53', 53, 'A', 'many.example']);
  });

  it('a query, or another opcode, is not a response', () => {
    assert.deepEqual(lookupFromResponse(responseEvent(message({ qr: false }, question('q.example')))), { ok: false, why: 'malformed', reason: 'a query, not a response (QR clear)' });
    assert.deepEqual(lookupFromResponse(responseEvent(message({ opcode: 4 }, question('q.example')))), { ok: false, why: 'malformed', reason: 'opcode 4, not a standard query' });
  });

  it('a response to none of the socket\'s queries (its id) is not taken; with the ids unknown, nothing is matched', () => {
    assert.deepEqual(lookupFromResponse(responseEvent(WEB, { queryIds: [0x1111, 0x2222] })), { ok: false, why: 'unmatched', reason: 'id 4660, the socket asked 4369, 8738' });
    assert.equal(lookupFromResponse(responseEvent(WEB, { queryIds: [0x1111, 0x1234] })).ok, true);
    assert.equal(lookupFromResponse(responseEvent(WEB, { queryIds: undefined })).ok, true);
  });

  it('TC or a cut capture: answers marked incomplete', () => {
    const tc = lookupFromResponse(responseEvent(message({ tc: true }, question('big.example'))));
    assert.ok(tc.ok && tc.lookup.answersIncomplete);
    const cut = lookupFromResponse(responseEvent(WEB.subarray(0, WEB.length - 2), { cut: true, messageLength: 900 }));
    assert.ok(cut.ok && cut.lookup.answersIncomplete && cut.lookup.addresses.length === 0);
  });
});

describe('dns_response_event decoder', () => {
  const build = (over: { family?: number; size?: number; flags?: number; type?: number; ids?: number } = {}): Buffer =>
    buildRecord(DNS_RESPONSE_LAYOUT, {
      type: over.type ?? EventType.DnsResponse, flags: over.flags ?? 0, send_ns: 10n, recv_ns: 20n, cgroup_id: 3n,
      pid: 100, tid: 101, uid: 1000, gid: 1001, family: over.family ?? 10, server_port: 53,
      msg_size: over.size ?? WEB.length, msg_len: 700, server: Buffer.from(parseAddress('fd00::53').bytes), comm: 'python3',
      // As the kernel copies them: the wire's bytes (big-endian).
      query_ids: Buffer.from([0x12, 0x34, 0xab, 0xcd, 0, 0, 0, 0]), query_id_count: over.ids ?? 2, msg: WEB,
    });

  it('decodes through the decoder table; the message is a copy of the used bytes', () => {
    const raw = build({ flags: DnsSockFlag.Cut });
    const e = decodeEvent(raw);
    assert.equal(e.kind, 'dns_response');
    const r = e as DnsResponseEvent;
    assert.deepEqual([r.sendNs, r.recvNs, r.cgroupId, r.pid, r.tid, r.uid, r.gid, r.server, r.serverPort, r.messageLength, r.cut, r.queryIds, r.comm],
      [10n, 20n, 3n, 100, 101, 1000, 1001, 'fd00::53', 53, 700, true, [0x1234, 0xabcd], 'python3']);
    assert.equal(decodeDnsResponse(build({ ids: 0 })).queryIds, undefined, 'none read: unknown');
    assert.deepEqual(r.message, WEB);
    raw.fill(0);
    assert.deepEqual(r.message, WEB, 'not a view into the ring buffer batch');
  });

  it('rejects a bad family or size', () => {
    assert.throws(() => decodeDnsResponse(build({ family: 7 })), (e: unknown) => e instanceof DecodeError && e.reason === 'invalid');
    assert.throws(() => decodeDnsResponse(build({ size: DNSSOCK_MSG_MAX + 1 })), /message of 513 bytes/);
    assert.throws(() => decodeDnsResponse(build({ ids: 5 })), /5 query ids/);
    assert.throws(() => decodeDnsResponse(build().subarray(0, 100)), (e: unknown) => e instanceof DecodeError && e.reason === 'truncated');
  });
});

describe('a socket lookup through the libc source\'s pipeline (real SDK, in memory)', () => {
  it('same span: dns.question.name, answers; the source, record type and server; RCODE as result code; answers name connects', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const clock = new KernelClock(() => ({ realtimeNs: 1_700_000_000_000_000_000n, monotonicNs: 0n }));
    const names = new PeerNames();
    const lookups = new DnsLookups({
      names,
      spans: new DnsLookupSpanBuilder(provider.getTracer('t'), clock),
      gate: new SpanGate({ successRatio: 1, slowThresholdNs: 1_000_000_000n, maxPerSecond: 0 }),
      filterName: (n) => n,
      metrics: () => undefined,
      contextFor: () => undefined,
      schedule: (_t, run) => run(),
      onSampledOut: () => undefined,
    });
    const ok = lookupFromResponse(responseEvent(WEB));
    const nx = lookupFromResponse(responseEvent(message({ rcode: 3 }, question('nope.example', AAAA))));
    assert.ok(ok.ok && nx.ok);
    lookups.onLookup(ok.lookup);
    lookups.onLookup(nx.lookup);
    assert.equal(names.nameFor(42, '93.184.215.14', 6_000n), 'web.example');
    const [a, b] = exporter.getFinishedSpans();
    assert.ok(a && b);
    assert.equal(a.name, 'dns lookup');
    assert.deepEqual(a.attributes, {
      'dns.question.name': 'web.example', 'ebpf_otel.dns.source': 'socket', 'ebpf_otel.dns.record_type': 'A',
      'network.peer.address': '127.0.0.53', 'network.peer.port': 53, 'network.transport': 'udp',
      'process.pid': 42, 'thread.id': 43, 'process.executable.name': 'curl', 'process.user.id': 1000, 'ebpf_otel.cgroup.id': '7',
      'dns.answers': ['93.184.215.14'],
    });
    assert.equal(a.duration[1], 4_000);
    assert.equal(b.attributes['error.type'], 'host_not_found');
    assert.equal(b.attributes['ebpf_otel.dns.result_code'], 'NXDOMAIN');
    assert.equal(b.attributes['ebpf_otel.dns.record_type'], 'AAAA');
    assert.equal(b.status.code, SpanStatusCode.ERROR);
  });
});
