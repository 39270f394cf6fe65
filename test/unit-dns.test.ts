/**
 * The dns pieces that are pure logic: the record decoder (table-driven), the
 * meaning of resolver result codes, the per-process address -> name memory,
 * name redaction, the console line, the lookup pipeline with the SDK in
 * memory, and which C library is probed (checked against glibc's own
 * `ldconfig -p`, readelf and /proc/self/maps).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { KernelClock } from '../receiver/src/clock';
import { DnsLookups } from '../receiver/src/dns/lookups';
import { DnsLookupSpanBuilder } from '../receiver/src/dns/spans';
import { SpanGate } from '../receiver/src/sampling';
import { compileUserPattern } from '../receiver/src/commands/patterns';
import { createNameRedactor } from '../receiver/src/commands/redact';
import {
  decodeDnsLookup,
  DNS_ADDR_LAYOUT,
  DNS_FUNC_NAMES,
  DNS_LOOKUP_LAYOUT,
  DnsFlag,
  DnsFunc,
  DnsLimit,
  dnsOutcome,
  isNumericHost,
  type DnsLookupEvent,
} from '../receiver/src/decode/dns';
import { EventType } from '../receiver/src/decode/layout';
import { DNS_STAT_COUNT, DnsStat } from '../receiver/src/probes/dns';
import { DecodeError } from '../receiver/src/decode/layout';
import { parseAddress } from '../receiver/src/decode/tcp-connect';
import { PeerNames } from '../receiver/src/dns/names';
import { formatSpanLine } from '../receiver/src/export/console';
import { findLibcs, isLibcFile, mappedLibcCandidates, RESOLVER_FUNCTIONS, systemLibcCandidates } from '../receiver/src/probes/libc';
import { buildRecord } from './helpers/event-builder';

function addrs(list: string[]): Buffer {
  const b = Buffer.alloc(DNS_ADDR_LAYOUT.size * 8);
  list.forEach((text, i) => {
    const { family, bytes } = parseAddress(text);
    b.writeUInt16LE(family, i * DNS_ADDR_LAYOUT.size);
    Buffer.from(bytes).copy(b, i * DNS_ADDR_LAYOUT.size + DNS_ADDR_LAYOUT.fields.addr.offset);
  });
  return b;
}

function record(over: { func?: number; result?: number; flags?: number; name?: string; addrs?: string[]; type?: number; count?: number } = {}): Buffer {
  const name = over.name ?? 'example.com';
  return buildRecord(DNS_LOOKUP_LAYOUT, {
    type: over.type ?? 7,
    func: over.func ?? 1,
    start_ns: 1_000n,
    end_ns: 3_500n,
    cgroup_id: 9n,
    pid: 100,
    tid: 101,
    uid: 1000,
    gid: 1000,
    result: over.result ?? 0,
    flags: over.flags ?? 0,
    addr_count: over.count ?? (over.addrs ?? []).length,
    name_size: Buffer.byteLength(name),
    comm: 'curl',
    addrs: addrs(over.addrs ?? []),
    name,
  });
}

describe('dns_lookup_event decoder', () => {
  const cases: Array<{ name: string; record: Buffer; expect: Partial<DnsLookupEvent> }> = [
    {
      name: 'getaddrinfo with IPv4 and IPv6 answers',
      record: record({ addrs: ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'] }),
      expect: { func: 'getaddrinfo', name: 'example.com', addresses: ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'], pid: 100, tid: 101, comm: 'curl', startNs: 1_000n, endNs: 3_500n },
    },
    { name: 'NXDOMAIN: EAI_NONAME, no answers', record: record({ result: -2, name: 'nope.example' }), expect: { result: -2, addresses: [], name: 'nope.example' } },
    { name: 'gethostbyname2_r failing with TRY_AGAIN', record: record({ func: 5, result: 2 }), expect: { func: 'gethostbyname2_r', result: 2 } },
    { name: 'eight answers and more', record: record({ addrs: Array.from({ length: 8 }, (_, i) => `10.0.0.${i}`), flags: DnsFlag.MoreAddrs }), expect: { flags: DnsFlag.MoreAddrs } },
    { name: 'a UTF-8 name', record: record({ name: 'bücher.example' }), expect: { name: 'bücher.example' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = decodeDnsLookup(c.record);
      for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(e[k as keyof DnsLookupEvent], v, k);
    });
  }

  const bad: Array<{ name: string; record: Buffer; reason: DecodeError['reason'] }> = [
    { name: 'short record', record: record().subarray(0, 100), reason: 'truncated' },
    { name: 'another event type', record: record({ type: 1 }), reason: 'unknown_type' },
    { name: 'unknown function', record: record({ func: 9 }), reason: 'invalid' },
    { name: 'more addresses than the array holds', record: record({ count: 9 }), reason: 'invalid' },
    { name: 'an address of no known family', record: record({ count: 1 }), reason: 'invalid' },
  ];
  for (const c of bad) {
    it(`rejects: ${c.name}`, () => {
      assert.throws(() => decodeDnsLookup(c.record), (err: unknown) => err instanceof DecodeError && err.reason === c.reason);
    });
  }
});

describe('the C enums of bpf/dns.h and their TypeScript mirrors agree (bpftool reads the BTF)', () => {
  const btf = execFileSync('bpftool', ['btf', 'dump', 'file', path.resolve(__dirname, '../../build/bpf/dns.bpf.o')], { encoding: 'utf8' });
  /** enum name -> (constant -> value), from bpftool's text dump. */
  function enumOf(name: string): Map<string, number> {
    const block = new RegExp(`ENUM '${name}'[^\\n]*\\n((?:\\t'[A-Z0-9_]+' val=-?\\d+\\n)+)`).exec(btf);
    assert.ok(block, `enum ${name} is in the object's BTF`);
    return new Map([...(block[1] as string).matchAll(/'([A-Z0-9_]+)' val=(-?\d+)/g)].map((m) => [m[1] as string, Number(m[2])]));
  }
  const upper = (camel: string): string => camel.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
  const cases: Array<[string, string, Record<string, number>, number?]> = [
    ['dns_func', 'DNS_FUNC_', DnsFunc],
    ['dns_lookup_flag', 'DNS_F_', DnsFlag],
    ['dns_stat', 'DNS_STAT_', DnsStat, DNS_STAT_COUNT],
    ['dns_limit', 'DNS_', DnsLimit],
  ];
  for (const [cEnum, prefix, mirror, count] of cases) {
    it(`enum ${cEnum}`, () => {
      const c = enumOf(cEnum);
      const expected = new Map(Object.entries(mirror).map(([k, v]) => [`${prefix}${upper(k)}`, v]));
      if (count !== undefined) expected.set(`${prefix}_COUNT`, count);
      assert.deepEqual(c, expected);
    });
  }
  it('enum event_type has EVENT_DNS_LOOKUP', () => {
    assert.equal(enumOf('event_type').get('EVENT_DNS_LOOKUP'), EventType.DnsLookup);
  });
  it('function names follow enum dns_func', () => {
    for (const [k, v] of Object.entries(DnsFunc)) assert.equal(upper(k), DNS_FUNC_NAMES[v]?.toUpperCase(), k);
  });
});

describe('resolver results as error.type', () => {
  const cases: Array<[Pick<DnsLookupEvent, 'func' | 'result' | 'flags'>, string, string | undefined]> = [
    [{ func: 'getaddrinfo', result: 0, flags: 0 }, 'success', undefined],
    [{ func: 'getaddrinfo', result: -2, flags: 0 }, 'host_not_found', 'EAI_NONAME'],
    [{ func: 'getaddrinfo', result: -3, flags: 0 }, 'temporary_failure', 'EAI_AGAIN'],
    [{ func: 'getaddrinfo', result: -4, flags: 0 }, 'no_recovery', 'EAI_FAIL'],
    [{ func: 'getaddrinfo', result: -5, flags: 0 }, 'no_data', 'EAI_NODATA'],
    [{ func: 'getaddrinfo', result: -11, flags: 0 }, 'system_error', 'EAI_SYSTEM'],
    [{ func: 'getaddrinfo', result: -77, flags: 0 }, '_OTHER', 'EAI -77'],
    [{ func: 'gethostbyname_r', result: 1, flags: 0 }, 'host_not_found', 'HOST_NOT_FOUND'],
    [{ func: 'gethostbyname', result: 2, flags: 0 }, 'temporary_failure', 'TRY_AGAIN'],
    [{ func: 'gethostbyname2', result: 4, flags: 0 }, 'no_data', 'NO_DATA'],
    [{ func: 'gethostbyname', result: -1, flags: DnsFlag.ResultUnknown }, '_OTHER', 'unknown (h_errno not readable)'],
  ];
  for (const [event, outcome, code] of cases) {
    it(`${event.func} ${event.result} -> ${outcome}`, () => {
      const o = dnsOutcome(event);
      assert.equal(o.outcome, outcome);
      assert.equal(o.ok, outcome === 'success');
      assert.equal(o.code, code);
    });
  }

  it('IP literals are not lookups', () => {
    for (const literal of ['127.0.0.1', '::1', 'fe80::1%eth0', '2001:db8::8a2e:370:7334']) assert.ok(isNumericHost(literal), literal);
    for (const name of ['localhost', 'example.com', '1.2.3.4.nip.io', 'cafe']) assert.ok(!isNumericHost(name), name);
  });
});

describe('per-process address -> name memory', () => {
  const opts = { ttlNs: 1_000n, maxPerProcess: 3, maxProcesses: 2 };

  it('names an address for the process that resolved it, and no other', () => {
    const names = new PeerNames(opts);
    names.remember(1, 'a.example', ['10.0.0.1', '::1'], 100n);
    assert.equal(names.nameFor(1, '10.0.0.1', 200n), 'a.example');
    assert.equal(names.nameFor(1, '::1', 200n), 'a.example');
    assert.equal(names.nameFor(2, '10.0.0.1', 200n), undefined);
  });

  it('an answer names only connects that started after the lookup returned', () => {
    const names = new PeerNames(opts);
    names.remember(1, 'a.example', ['10.0.0.1'], 500n);
    assert.equal(names.nameFor(1, '10.0.0.1', 499n), undefined, 'connected before knowing the name');
    assert.equal(names.nameFor(1, '10.0.0.1', 500n), 'a.example');
  });

  it('the most recent answer wins when two names share an address', () => {
    const names = new PeerNames(opts);
    names.remember(1, 'first.example', ['10.0.0.1'], 100n);
    names.remember(1, 'second.example', ['10.0.0.1'], 200n);
    assert.equal(names.nameFor(1, '10.0.0.1', 300n), 'second.example');
    names.remember(1, 'first.example', ['10.0.0.1'], 400n);
    assert.equal(names.nameFor(1, '10.0.0.1', 500n), 'first.example');
    // Answers that arrived before an earlier connect was handled do not rename it.
    assert.equal(names.nameFor(1, '10.0.0.1', 150n), 'first.example');
    assert.equal(names.nameFor(1, '10.0.0.1', 250n), 'second.example');
  });

  it('forgets after the TTL, at exit, and beyond its bounds (oldest first)', () => {
    const names = new PeerNames(opts);
    names.remember(1, 'a.example', ['10.0.0.1'], 100n);
    assert.equal(names.nameFor(1, '10.0.0.1', 1_100n), 'a.example');
    assert.equal(names.nameFor(1, '10.0.0.1', 1_101n), undefined, 'expired');
    names.forget(1);
    names.remember(1, 'b.example', ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'], 2_000n);
    assert.equal(names.nameFor(1, '10.0.0.1', 2_001n), undefined, 'only 3 per process: the oldest went');
    assert.equal(names.nameFor(1, '10.0.0.4', 2_001n), 'b.example');
    names.remember(2, 'c.example', ['10.0.0.9'], 2_000n);
    names.remember(3, 'd.example', ['10.0.0.9'], 2_000n);
    assert.equal(names.processes, 2);
    assert.equal(names.nameFor(1, '10.0.0.4', 2_001n), undefined, 'only 2 processes: the least recent went');
    names.forget(3);
    assert.equal(names.nameFor(3, '10.0.0.9', 2_001n), undefined);
  });
});

describe('one lookup through the pipeline (real SDK, in memory)', () => {
  function setup(maxPerSecond = 0) {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const clock = new KernelClock(() => ({ realtimeNs: 1_700_000_000_000_000_000n, monotonicNs: 0n }));
    const names = new PeerNames();
    const queue: Array<[bigint, () => void]> = [];
    const sampledOut: string[] = [];
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
    const filterName = createNameRedactor(true, [compileUserPattern('secret')]);
    const lookups = new DnsLookups({
      names,
      spans: new DnsLookupSpanBuilder(provider.getTracer('t'), clock, filterName),
      gate: new SpanGate({ successRatio: 1, slowThresholdNs: 1_000_000_000n, maxPerSecond }),
      filterName,
      metrics: () => undefined,
      contextFor: (pid): Context | undefined => (pid === 100 ? parent : undefined),
      schedule: (t, run) => queue.push([t, run]),
      onSampledOut: (d) => sampledOut.push(d),
    });
    const flush = (): void => { for (const [, run] of queue.splice(0)) run(); };
    return { exporter, names, lookups, queue, sampledOut, flush };
  }

  it('a lookup: a CLIENT span under its process, scheduled at its end; its answers name later connects', () => {
    const { exporter, names, lookups, queue, flush } = setup();
    lookups.onLookup(decodeDnsLookup(record({ addrs: ['93.184.215.14'] })));
    assert.equal(names.nameFor(100, '93.184.215.14', 3_500n), 'example.com', 'remembered at once, at the lookup\'s end');
    assert.equal(queue[0]?.[0], 3_500n);
    flush();
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.name, 'dns lookup');
    assert.equal(span?.kind, SpanKind.CLIENT);
    assert.equal(span?.parentSpanContext?.spanId, 'b7ad6b7169203331');
    assert.deepEqual(span?.attributes['dns.answers'], ['93.184.215.14']);
  });

  it('IP literals are neither spans nor names; failures are not remembered', () => {
    const { exporter, names, lookups, flush } = setup();
    lookups.onLookup(decodeDnsLookup(record({ name: '10.1.2.3', addrs: ['10.1.2.3'] })));
    lookups.onLookup(decodeDnsLookup(record({ name: 'nope.example', result: -2 })));
    flush();
    assert.equal(names.nameFor(100, '10.1.2.3', 9_999n), undefined);
    assert.deepEqual(exporter.getFinishedSpans().map((s) => s.attributes['error.type']), ['host_not_found']);
  });

  it('a user pattern redacts the name in the span and on connects', () => {
    const { exporter, names, lookups, flush } = setup();
    lookups.onLookup(decodeDnsLookup(record({ name: 'secret.example', addrs: ['10.0.0.5'] })));
    flush();
    assert.equal(exporter.getFinishedSpans()[0]?.attributes['dns.question.name'], '****.example');
    assert.equal(names.nameFor(100, '10.0.0.5', 9_999n), '****.example');
  });

  it('beyond the span budget: counted as sampled out, the name still remembered', () => {
    const { exporter, names, lookups, sampledOut, flush } = setup(1);
    for (let i = 0; i < 3; i++) lookups.onLookup(decodeDnsLookup(record({ addrs: [`10.0.0.${i}`] })));
    flush();
    assert.equal(exporter.getFinishedSpans().length, 1);
    assert.deepEqual(sampledOut, ['rate_limit', 'rate_limit']);
    assert.equal(names.nameFor(100, '10.0.0.2', 9_999n), 'example.com');
  });
});

describe('name redaction', () => {
  it('names pass unchanged by default: built-in secret rules are for command lines', () => {
    const redact = createNameRedactor(true, []);
    assert.equal(redact('token.internal.example'), 'token.internal.example');
  });
  it('a user pattern rewrites names; --no-redact turns it off', () => {
    assert.equal(createNameRedactor(true, [compileUserPattern('alice-[a-z]+')])('alice-laptop.corp.example'), '****.corp.example');
    assert.equal(createNameRedactor(false, [compileUserPattern('corp')])('alice.corp.example'), 'alice.corp.example');
  });
});

describe('console view', () => {
  function span(attributes: ReadableSpan['attributes'], failed = false): ReadableSpan {
    return {
      name: 'x', kind: SpanKind.CLIENT, attributes, startTime: [1_700_000_000, 0], endTime: [1_700_000_000, 12_000_000], duration: [0, 12_000_000],
      status: { code: failed ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
    } as unknown as ReadableSpan;
  }
  it('a connect shows the name it was resolved from, and the IP', () => {
    const line = formatSpanLine(span({
      'network.transport': 'tcp', 'network.type': 'ipv4', 'process.pid': 7, 'process.executable.name': 'curl', 'ebpf_otel.tcp.outcome': 'established',
      'network.local.address': '10.0.0.1', 'network.local.port': 40000, 'network.peer.address': '93.184.215.14', 'network.peer.port': 443, 'server.address': 'example.com',
    }));
    assert.match(line, /10\.0\.0\.1:40000 -> example\.com:443 \(93\.184\.215\.14\)/);
  });
  it('a lookup shows the name, its answers and the outcome', () => {
    const ok = formatSpanLine(span({ 'dns.question.name': 'example.com', 'dns.answers': ['93.184.215.14'], 'process.pid': 7, 'process.executable.name': 'curl' }));
    assert.match(ok, / dns +pid=7 +curl +example\.com -> 93\.184\.215\.14 +12\.000 ms ok$/);
    const failed = formatSpanLine(span({ 'dns.question.name': 'nope.example', 'error.type': 'host_not_found', 'process.pid': 7 }, true));
    assert.match(failed, /HOST_NOT_FOUND$/);
  });
});

describe('finding the C library like the dynamic linker', () => {
  it('names the libc.so.6 glibc\'s own ldconfig -p lists, and where it found it', () => {
    const listed = /^\s+libc\.so\.6 \(.*\) => (\S+)$/m.exec(execFileSync('ldconfig', ['-p'], { encoding: 'utf8' }))?.[1];
    assert.ok(listed);
    assert.deepEqual(systemLibcCandidates()[0], { path: listed, via: 'ld.so.cache' });
  });

  it('finds the C library this very process has mapped', () => {
    const mine = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.slice(l.indexOf('/'))).find((f) => /\/libc\.so\.6$/.test(f));
    assert.ok(mine, 'node maps libc.so.6');
    assert.ok(mappedLibcCandidates().some((c) => c.path === mine), 'found through /proc/<pid>/maps');
  });

  it('finds libc.so.6 and each resolver function at the offset readelf gives', () => {
    const { targets } = findLibcs(systemLibcCandidates());
    const libc = targets.find((t) => t.via === 'ld.so.cache');
    assert.ok(libc, 'libc.so.6 through ld.so.cache');
    assert.deepEqual(libc.missing, []);
    const syms = execFileSync('readelf', ['-W', '--dyn-syms', libc.path], { encoding: 'utf8' });
    for (const fn of RESOLVER_FUNCTIONS) {
      const m = new RegExp(`\\s([0-9a-f]+)\\s+\\d+\\s+FUNC\\s+\\S+\\s+\\S+\\s+\\d+\\s+${fn}@@`).exec(syms);
      assert.ok(m, `${fn} in readelf's output`);
      // Debian's libc maps its text at file offset = address.
      assert.equal(libc.functions.get(fn), parseInt(m[1] as string, 16), fn);
    }
  });

  it('tells C libraries from other files', () => {
    for (const f of ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/libc-2.31.so', '/lib/ld-musl-x86_64.so.1', '/usr/lib/libc.musl-x86_64.so.1']) assert.ok(isLibcFile(f), f);
    for (const f of ['/lib/x86_64-linux-gnu/libcap.so.2', '/lib/x86_64-linux-gnu/libcrypt.so.1', '/usr/lib/libc++.so.1']) assert.ok(!isLibcFile(f), f);
  });

  it('a named file that is not a C library is skipped with the reason', () => {
    const { targets, skipped } = findLibcs([{ path: '/etc/hostname', via: 'configured' }, { path: '/nonexistent/libc.so.6', via: 'configured' }], true);
    assert.equal(targets.length, 0);
    assert.equal(skipped.length, 2);
    assert.match(skipped[0]?.reason ?? '', /not an ELF file/);
    assert.match(skipped[1]?.reason ?? '', /cannot read it/);
  });
});
