/**
 * Name lookups seen through uprobes on the real C library, answered by a
 * real resolver: Debian's dnsmasq on a loopback address of its own, used by
 * programs in a private mount namespace whose /etc/resolv.conf and
 * /etc/hosts point at it (test/helpers/dns-lab.ts). The real agent exports
 * to jsonl (checked here) and, through the real Collector, to Jaeger (the
 * bash case: line -> process -> dns lookup -> connect in one trace).
 *
 * The independent references: dnsctl.py's own view (its pid and thread ids,
 * the addresses getaddrinfo() gave it, CLOCK_MONOTONIC around the call, the
 * local port of each connect), dnsmasq's query log, and nft's drop counter.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attrs, type AgentRun } from './helpers/agent';
import { ensureBackends, flattenMetrics, waitFor, type CollectorHandle, type JaegerHandle } from './helpers/backends';
import { DnsLab } from './helpers/dns-lab';
import { dnsctl as runDnsctl, startDnsAgent, startDnsBackends, stopDnsBackends, typedCurlTrace, type DnsBackends, type DnsctlRun, type LookupResult } from './helpers/dns-trace';

const DNSCTL = path.resolve(__dirname, '../../test/helpers/dnsctl.py');
const DNS_CLIENT_SRC = path.resolve(__dirname, '../../test/fixtures/dns_client.c');
const GLIBC_CLIENT = path.resolve(__dirname, '../../build/test-bpf/dns_client');
const DOMAIN = 'dnstest';

type Json = Record<string, unknown>;

function durationNs(span: Json): bigint {
  return BigInt(span.endTimeUnixNano as string) - BigInt(span.startTimeUnixNano as string);
}

before(() => {
  ensureBackends();
});

describe('dns: lookups through the C library become spans, and name the connects that follow', { timeout: 240_000 }, () => {
  const service = `e2e-dns-${process.pid}-${Date.now()}`;
  let lab: DnsLab;
  let jaeger: JaegerHandle;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let backends: DnsBackends;
  let port: number;
  let since = 0;
  let buildDir = '';
  let early: ChildProcess | undefined;
  let earlyLines: AsyncIterator<string>;
  let earlyPid = 0;

  before(async () => {
    // The C client against musl, linked dynamically (probed in musl's libc.so) and statically (not probed at all).
    buildDir = mkdtempSync(path.join(tmpdir(), 'ebpf-otel-dns-client-'));
    for (const [out, extra] of [['musl-dynamic', []], ['musl-static', ['-static']]] as const) {
      execFileSync('musl-gcc', ['-O2', ...extra, '-o', path.join(buildDir, out), DNS_CLIENT_SRC]);
    }
    lab = await DnsLab.start({
      domain: DOMAIN,
      records: {
        [`web.${DOMAIN}`]: '127.0.0.1',
        [`slow.${DOMAIN}`]: '127.3.0.1',
        [`t1.${DOMAIN}`]: '127.1.0.1',
        [`t2.${DOMAIN}`]: '127.1.0.2',
        [`t3.${DOMAIN}`]: '127.1.0.3',
        [`t4.${DOMAIN}`]: '127.1.0.4',
        [`first.${DOMAIN}`]: '127.2.0.1',
        [`second.${DOMAIN}`]: '127.2.0.1',
        [`curl.${DOMAIN}`]: '127.4.0.1',
        [`typed.${DOMAIN}`]: '127.5.0.1',
        [`musl.${DOMAIN}`]: '127.7.0.1',
        [`musl-ghbn.${DOMAIN}`]: '127.7.0.2',
        [`static.${DOMAIN}`]: '127.7.0.3',
        [`glibc-ghbn.${DOMAIN}`]: '127.7.0.4',
        [`early.${DOMAIN}`]: '127.8.0.1',
        [`dual.${DOMAIN}`]: '127.9.0.1,fd00:53::1',
      },
      hosts: { 'fromhosts.hoststest': '127.6.0.1' },
    });
    backends = await startDnsBackends();
    ({ jaeger, collector, port } = backends);
    // A process that is already running when the agent starts (uprobes attach to the file: it is covered).
    const [cmd, ...rest] = lab.wrap(['python3', DNSCTL, 'serve', String(port)]);
    early = spawn(cmd as string, rest, { stdio: ['pipe', 'pipe', 'inherit'] });
    earlyLines = createInterface({ input: early.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    const ready = JSON.parse(String((await earlyLines.next()).value)) as { ready: number };
    earlyPid = ready.ready;
    since = Date.now() - 1000;
    // The libc source's semantics (/etc/hosts names, gethostbyname*, result codes on timeouts): e2e-dns-socket tests the other.
    agent = await startDnsAgent(backends, service, ['--dns-source', 'libc']);
  });

  after(async () => {
    // The early process ends at end of input; its namespace (with our files bind-mounted) goes with it.
    const earlyExited = early && early.exitCode === null ? new Promise((resolve) => early?.once('exit', resolve)) : Promise.resolve();
    early?.stdin?.end();
    await earlyExited;
    await stopDnsBackends(agent, backends, lab);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  interface ClientRun { pid: number; ok: boolean; addr: string; sport: number; error: number }
  async function client(binary: string, fn: 'getaddrinfo' | 'gethostbyname', name: string): Promise<ClientRun> {
    return JSON.parse((await lab.run([binary, fn, name, String(port)])).stdout) as ClientRun;
  }

  const dnsctl = (...args: string[]): Promise<DnsctlRun> => runDnsctl(lab, ...args);

  const lookupSpan = (pid: number, tid: number, name: string) => (o: Json): boolean =>
    o.name === 'dns lookup' && attrs(o)['process.pid'] === pid && attrs(o)['thread.id'] === tid && attrs(o)['dns.question.name'] === name;
  const connectSpan = (pid: number, sport: number) => (o: Json): boolean =>
    o.name === 'tcp connect' && attrs(o)['process.pid'] === pid && attrs(o)['network.local.port'] === sport;

  it('the agent reports which source and which C library it probes', () => {
    assert.match(agent.stderr(), /dns: source libc \(--dns-source libc\): the C library's resolver calls \(uprobes\)/);
    assert.match(agent.stderr(), /dns: watching getaddrinfo, gethostbyname, gethostbyname2, gethostbyname_r, gethostbyname2_r in \S*libc\.so\.6 \(ld\.so\.cache\)/);
  });

  it('python3: a lookup span with the answer, and a connect named by it', async () => {
    const run = await dnsctl('lookup', `web.${DOMAIN}`, String(port), '--family', '4');
    const r = run.results[0] as LookupResult;
    assert.equal(r.ok, true);
    assert.deepEqual(r.addrs, ['127.0.0.1']);
    const lookup = await agent.waitForJson(lookupSpan(run.pid, r.tid, `web.${DOMAIN}`));
    const a = attrs(lookup);
    assert.equal(lookup.kind, 2, 'CLIENT');
    assert.deepEqual(a['dns.answers'], ['127.0.0.1']);
    assert.equal(a['ebpf_otel.dns.function'], 'getaddrinfo');
    assert.equal(a['error.type'], undefined);
    assert.equal((lookup.status as Json).code, 'UNSET');
    // The uprobes time the call inside python's own measurement of it.
    assert.ok(durationNs(lookup) > 0n && durationNs(lookup) <= BigInt(r.t1 - r.t0), `lookup ${durationNs(lookup)} ns within python's ${r.t1 - r.t0} ns`);
    assert.match(lab.dnsmasqLog(), new RegExp(`query\\[A\\] web\\.${DOMAIN} from`), 'dnsmasq answered it');

    const connect = await agent.waitForJson(connectSpan(run.pid, r.sport as number));
    assert.equal(attrs(connect)['server.address'], `web.${DOMAIN}`);
    assert.equal(attrs(connect)['network.peer.address'], '127.0.0.1');
    assert.equal(attrs(connect)['server.port'], port);
  });

  it('a process already running when the agent started: its next lookup is seen', async () => {
    early?.stdin?.write(`early.${DOMAIN}\n`);
    const run = JSON.parse(String((await earlyLines.next()).value)) as DnsctlRun;
    const r = run.results[0] as LookupResult;
    assert.equal(run.pid, earlyPid);
    const lookup = await agent.waitForJson(lookupSpan(earlyPid, r.tid, `early.${DOMAIN}`));
    assert.deepEqual(attrs(lookup)['dns.answers'], ['127.8.0.1']);
    const connect = await agent.waitForJson(connectSpan(earlyPid, r.sport as number));
    assert.equal(attrs(connect)['server.address'], `early.${DOMAIN}`);
  });

  it('curl: its resolver thread looks up, its main thread connects, the connect has the name', async () => {
    // curl fails on the listener's empty reply (exit 52); the connect is what counts.
    const out = await lab.run(['curl', '-s', '-o', '/dev/null', '-w', '%{local_port}\\n', '--max-time', '10', `http://curl.${DOMAIN}:${port}/`]);
    const sport = Number(out.stdout.trim());
    assert.ok(sport > 0, `curl connected (stdout ${out.stdout}, stderr ${out.stderr})`);
    const connect = await agent.waitForJson((o) => o.name === 'tcp connect' && attrs(o)['network.local.port'] === sport && attrs(o)['process.executable.name'] === 'curl');
    const pid = attrs(connect)['process.pid'] as number;
    assert.equal(attrs(connect)['server.address'], `curl.${DOMAIN}`);
    assert.equal(attrs(connect)['network.peer.address'], '127.4.0.1');
    const lookup = await agent.waitForJson((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === pid);
    assert.equal(attrs(lookup)['dns.question.name'], `curl.${DOMAIN}`);
    assert.deepEqual(attrs(lookup)['dns.answers'], ['127.4.0.1']);
    assert.ok(BigInt(lookup.endTimeUnixNano as string) <= BigInt(connect.startTimeUnixNano as string), 'resolved before connecting');
  });

  it('a name that does not exist: an error span (host_not_found), no connect', async () => {
    const run = await dnsctl('lookup', `nope.${DOMAIN}`, String(port));
    const r = run.results[0] as LookupResult;
    assert.equal(r.ok, false);
    assert.equal(r.error, -2, 'python saw EAI_NONAME');
    const lookup = await agent.waitForJson(lookupSpan(run.pid, r.tid, `nope.${DOMAIN}`));
    assert.equal(attrs(lookup)['error.type'], 'host_not_found');
    assert.equal(attrs(lookup)['ebpf_otel.dns.result_code'], 'EAI_NONAME');
    assert.equal(attrs(lookup)['dns.answers'], undefined);
    assert.equal((lookup.status as Json).code, 'ERROR');
    assert.match(lab.dnsmasqLog(), new RegExp(`nope\\.${DOMAIN} is NXDOMAIN`));
  });

  it('a slow answer (first query dropped, retried after 1 s): the lookup lasts as long', async () => {
    lab.dropNextQuery();
    let run: DnsctlRun;
    try {
      run = await dnsctl('lookup', `slow.${DOMAIN}`, String(port), '--family', '4');
      const counter = execFileSync('nft', ['list', 'table', 'inet', lab.nftTable], { encoding: 'utf8' });
      assert.match(counter, /counter packets 1 /, 'nft dropped exactly one query');
    } finally {
      lab.clearDrop();
    }
    const r = run.results[0] as LookupResult;
    assert.equal(r.ok, true);
    assert.ok(r.t1 - r.t0 >= 1e9, 'python waited for the retry');
    const lookup = await agent.waitForJson(lookupSpan(run.pid, r.tid, `slow.${DOMAIN}`));
    const d = durationNs(lookup);
    assert.ok(d >= 1_000_000_000n && d <= BigInt(r.t1 - r.t0), `lookup ${d} ns: at least the 1 s resolver timeout, within python's ${r.t1 - r.t0} ns`);
    assert.deepEqual(attrs(lookup)['dns.answers'], ['127.3.0.1']);
    const connect = await agent.waitForJson(connectSpan(run.pid, r.sport as number));
    assert.equal(attrs(connect)['server.address'], `slow.${DOMAIN}`);
  });

  it('no answer at all (every query dropped): temporary_failure after timeout x attempts (3 x 1 s)', async () => {
    lab.dropAllQueries();
    let run: DnsctlRun;
    try {
      run = await dnsctl('lookup', `lost.${DOMAIN}`, String(port), '--family', '4');
      const counter = execFileSync('nft', ['list', 'table', 'inet', lab.nftTable], { encoding: 'utf8' });
      assert.match(counter, /counter packets 3 /, 'three queries sent, all dropped (resolv.conf: attempts:3)');
    } finally {
      lab.clearDrop();
    }
    const r = run.results[0] as LookupResult;
    assert.equal(r.error, -3, 'python saw EAI_AGAIN');
    const lookup = await agent.waitForJson(lookupSpan(run.pid, r.tid, `lost.${DOMAIN}`));
    assert.equal(attrs(lookup)['error.type'], 'temporary_failure');
    assert.equal(attrs(lookup)['ebpf_otel.dns.result_code'], 'EAI_AGAIN');
    const d = durationNs(lookup);
    assert.ok(d >= 3_000_000_000n && d <= BigInt(r.t1 - r.t0), `lookup ${d} ns: the three 1 s tries, within python's ${r.t1 - r.t0} ns`);
  });

  it('IPv4 and IPv6 answers: in the order getaddrinfo() gave them, IPv6 in RFC 5952 form', async () => {
    const run = await dnsctl('lookup', `dual.${DOMAIN}`, String(port), '--family', '0', '--no-connect');
    const r = run.results[0] as LookupResult;
    const distinct = r.addrs.filter((a, i) => r.addrs.indexOf(a) === i);
    assert.deepEqual([...distinct].sort(), ['127.9.0.1', 'fd00:53::1']);
    const lookup = await agent.waitForJson(lookupSpan(run.pid, r.tid, `dual.${DOMAIN}`));
    assert.deepEqual(attrs(lookup)['dns.answers'], distinct);
  });

  it('a name longer than a DNS name can be: kept cut at 255 bytes and marked', async () => {
    const long = `${'a'.repeat(60)}.`.repeat(5) + DOMAIN; // 311 bytes
    const run = await dnsctl('lookup', long, String(port), '--no-connect');
    const r = run.results[0] as LookupResult;
    assert.equal(r.ok, false);
    const lookup = await agent.waitForJson((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === run.pid);
    assert.equal(attrs(lookup)['dns.question.name'], long.slice(0, 255));
    assert.equal(attrs(lookup)['ebpf_otel.dns.name_truncated'], true);
    assert.equal(typeof attrs(lookup)['error.type'], 'string');
  });

  it('a name from /etc/hosts (in the namespace): looked up, no query to dnsmasq', async () => {
    const run = await dnsctl('lookup', 'fromhosts.hoststest', String(port), '--family', '4');
    const r = run.results[0] as LookupResult;
    assert.deepEqual(r.addrs, ['127.6.0.1']);
    const lookup = await agent.waitForJson(lookupSpan(run.pid, r.tid, 'fromhosts.hoststest'));
    assert.deepEqual(attrs(lookup)['dns.answers'], ['127.6.0.1']);
    const connect = await agent.waitForJson(connectSpan(run.pid, r.sport as number));
    assert.equal(attrs(connect)['server.address'], 'fromhosts.hoststest');
    assert.doesNotMatch(lab.dnsmasqLog(), /fromhosts/);
  });

  it('threads resolving in parallel: each lookup on its own thread, each connect named by its own answer', async () => {
    const names = ['t1', 't2', 't3', 't4'].map((t) => `${t}.${DOMAIN}`);
    const run = await dnsctl('threads', String(port), ...names);
    assert.equal(new Set(run.results.map((r) => r.tid)).size, names.length, 'four threads');
    for (const r of run.results) {
      assert.equal(r.ok, true, r.name);
      const lookup = await agent.waitForJson(lookupSpan(run.pid, r.tid, r.name));
      assert.deepEqual(attrs(lookup)['dns.answers'], r.addrs.slice(0, 1));
      assert.ok(durationNs(lookup) <= BigInt(r.t1 - r.t0), `${r.name}: timed on its own thread`);
      const connect = await agent.waitForJson(connectSpan(run.pid, r.sport as number));
      assert.equal(attrs(connect)['server.address'], r.name);
      assert.equal(attrs(connect)['network.peer.address'], r.addrs[0]);
    }
  });

  it('one address, two names: the most recent answer for the process names the connect', async () => {
    const run = await dnsctl('sequence', String(port), `first.${DOMAIN}`, `second.${DOMAIN}`, `first.${DOMAIN}`);
    const expected = [`first.${DOMAIN}`, `second.${DOMAIN}`, `first.${DOMAIN}`];
    for (const [i, r] of run.results.entries()) {
      assert.deepEqual(r.addrs, ['127.2.0.1']);
      const connect = await agent.waitForJson(connectSpan(run.pid, r.sport as number));
      assert.equal(attrs(connect)['server.address'], expected[i], `connect ${i + 1}`);
    }
  });

  it('a command typed in bash: line -> process -> dns lookup -> connect, one trace in Jaeger', async () => {
    const { curl, lookup, connect, shape } = await typedCurlTrace({ lab, jaeger, agent, service, since, name: `typed.${DOMAIN}`, port, isLookup: () => true });
    assert.ok(curl, `a curl process span under the command; ${shape}`);
    assert.equal(lookup.parentSpanId, curl.spanId, `dns lookup under curl; ${shape}`);
    assert.equal(connect.parentSpanId, curl.spanId, `tcp connect under curl; ${shape}`);
    assert.equal(lookup.attributes['dns.question.name'], `typed.${DOMAIN}`);
    assert.equal(connect.attributes['server.address'], `typed.${DOMAIN}`);
    assert.equal(connect.attributes['network.peer.address'], '127.5.0.1');
    assert.ok(lookup.endTimeUnixNano <= connect.startTimeUnixNano, 'lookup, then connect');
  });

  it('gethostbyname2 (getent hosts): one lookup per call, the nested gethostbyname2_r is not a second one', async () => {
    const [pid, ...lines] = (await lab.run(['sh', '-c', `echo $$; exec getent hosts web.${DOMAIN}`])).stdout.trim().split('\n');
    assert.match(lines.join('\n'), /127\.0\.0\.1\s+web\.dnstest/);
    // getent asks for IPv6 first (no such record: NO_DATA, h_errno from the inner call), then IPv4.
    const spans = await waitFor(
      () => Promise.resolve(agent.jsonLines().filter((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === Number(pid))),
      (found) => found.length >= 2,
      { timeoutMs: 15_000, what: 'two lookups by getent' },
    );
    assert.equal(spans.length, 2, 'two calls, two lookups');
    assert.deepEqual(spans.map((o) => attrs(o)['ebpf_otel.dns.function']), ['gethostbyname2', 'gethostbyname2']);
    assert.equal(attrs(spans[0] as Json)['error.type'], 'no_data');
    assert.equal(attrs(spans[0] as Json)['ebpf_otel.dns.result_code'], 'NO_DATA');
    assert.deepEqual(attrs(spans[1] as Json)['dns.answers'], ['127.0.0.1']);

    const notFound = await lab.run(['sh', '-c', `echo $$; exec getent hosts nope.${DOMAIN}`]);
    assert.equal(notFound.status, 2, 'getent: key not found');
    const pid2 = notFound.stdout.trim();
    const failed = await agent.waitForJson((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === Number(pid2));
    assert.equal(attrs(failed)['error.type'], 'host_not_found');
    assert.equal(attrs(failed)['ebpf_otel.dns.result_code'], 'HOST_NOT_FOUND');
  });

  it('gethostbyname_r (python socket.gethostbyname_ex): answers from struct hostent', async () => {
    const out = JSON.parse((await lab.run(['python3', '-c', `import json, os, socket; print(json.dumps([os.getpid(), socket.gethostbyname_ex('t3.${DOMAIN}')[2]]))`])).stdout) as [number, string[]];
    assert.deepEqual(out[1], ['127.1.0.3']);
    const lookup = await agent.waitForJson((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === out[0] && attrs(o)['ebpf_otel.dns.function'] === 'gethostbyname_r');
    assert.deepEqual(attrs(lookup)['dns.answers'], ['127.1.0.3']);
  });

  it('musl (dynamically linked): getaddrinfo and gethostbyname are seen in musl\'s libc.so', async () => {
    assert.match(agent.stderr(), /dns: watching getaddrinfo, gethostbyname, gethostbyname2, gethostbyname_r, gethostbyname2_r in \/lib\/ld-musl-x86_64\.so\.1 \(musl\)/);
    const binary = path.join(buildDir, 'musl-dynamic');
    const gai = await client(binary, 'getaddrinfo', `musl.${DOMAIN}`);
    assert.equal(gai.ok, true);
    const lookup = await agent.waitForJson((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === gai.pid);
    assert.equal(attrs(lookup)['dns.question.name'], `musl.${DOMAIN}`);
    assert.deepEqual(attrs(lookup)['dns.answers'], ['127.7.0.1']);
    const connect = await agent.waitForJson(connectSpan(gai.pid, gai.sport));
    assert.equal(attrs(connect)['server.address'], `musl.${DOMAIN}`);

    // musl: gethostbyname -> gethostbyname2 -> gethostbyname2_r, one lookup.
    const ghbn = await client(binary, 'gethostbyname', `musl-ghbn.${DOMAIN}`);
    const connect2 = await agent.waitForJson(connectSpan(ghbn.pid, ghbn.sport));
    assert.equal(attrs(connect2)['server.address'], `musl-ghbn.${DOMAIN}`);
    const lookups = agent.jsonLines().filter((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === ghbn.pid);
    assert.equal(lookups.length, 1, 'nested calls are one lookup');
    assert.equal(attrs(lookups[0] as Json)['ebpf_otel.dns.function'], 'gethostbyname');
    assert.deepEqual(attrs(lookups[0] as Json)['dns.answers'], ['127.7.0.2']);

    const missing = await client(binary, 'gethostbyname', `nope-musl.${DOMAIN}`);
    assert.equal(missing.ok, false);
    const failed = await agent.waitForJson((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === missing.pid);
    assert.equal(attrs(failed)['error.type'], 'host_not_found', 'h_errno of the nested gethostbyname2_r');
  });

  it('glibc gethostbyname() from C: one lookup, its answer names the connect', async () => {
    const run = await client(GLIBC_CLIENT, 'gethostbyname', `glibc-ghbn.${DOMAIN}`);
    const connect = await agent.waitForJson(connectSpan(run.pid, run.sport));
    assert.equal(attrs(connect)['server.address'], `glibc-ghbn.${DOMAIN}`);
    const lookups = agent.jsonLines().filter((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === run.pid);
    assert.equal(lookups.length, 1);
    assert.equal(attrs(lookups[0] as Json)['ebpf_otel.dns.function'], 'gethostbyname');
  });

  it('a statically linked program: no lookup is seen, and its connect keeps the IP (no name is guessed)', async () => {
    const run = await client(path.join(buildDir, 'musl-static'), 'getaddrinfo', `static.${DOMAIN}`);
    assert.equal(run.ok, true);
    assert.equal(run.addr, '127.7.0.3');
    const connect = await agent.waitForJson(connectSpan(run.pid, run.sport));
    // (dnsmasq's log is read by this event loop: after an await.)
    assert.match(lab.dnsmasqLog(), new RegExp(`query\\[A\\] static\\.${DOMAIN} from`), 'it did resolve, through dnsmasq');
    assert.equal(attrs(connect)['server.address'], '127.7.0.3');
    assert.equal(agent.jsonLines().filter((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === run.pid).length, 0);
  });

  it('metrics: dns.lookup.duration and ebpf_otel.dns.lookups by outcome, without names', async () => {
    const points = await waitFor(
      () => Promise.resolve(flattenMetrics(collector.readMetrics()).filter((p) => p.resource['service.name'] === service)),
      (all) => all.some((p) => p.name === 'ebpf_otel.dns.lookups' && p.attributes['ebpf_otel.dns.outcome'] === 'host_not_found') &&
        all.some((p) => p.name === 'dns.lookup.duration' && p.attributes['error.type'] === undefined && (p.count ?? 0) >= 10),
      { timeoutMs: 20_000, intervalMs: 500, what: 'dns metrics in the collector' },
    );
    const duration = points.filter((p) => p.name === 'dns.lookup.duration');
    assert.ok(duration.every((p) => p.kind === 'histogram' && p.unit === 's'));
    // The 1 s lookup is in a bucket above 1 s.
    const ok = duration.filter((p) => p.attributes['error.type'] === undefined).at(-1);
    const bounds = ok?.explicitBounds ?? [];
    const slowBuckets = (ok?.bucketCounts ?? []).slice(bounds.findIndex((b) => b >= 1) + 1).reduce((a, b) => a + b, 0);
    assert.ok(slowBuckets >= 1, `the slow lookup counted above 1 s: ${JSON.stringify(ok)}`);
    for (const p of points.filter((q) => q.name.includes('dns'))) assert.equal(p.attributes['dns.question.name'], undefined, 'no names on metrics by default');
  });

  it('the agent exits cleanly, nothing lost or undecodable', async () => {
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /decode errors: 0/);
    assert.match(agent.stderr(), /spans dropped: 0/);
    assert.doesNotMatch(agent.stderr(), /lost in kernel: .*dns/);
  });
});
