/**
 * The dns probe's socket source (the default on this 6.18 kernel): DNS
 * responses read at the socket, answered by a real resolver (Debian's
 * dnsmasq on a loopback address of its own, test/helpers/dns-lab.ts), for
 * real programs: python and curl through glibc, a statically linked musl
 * program and a Go program on Go's own resolver (both invisible to the libc
 * source), a DNS client of its own
 * (dnswire.py: sendto, sendmsg, connect+read), and a hostile local user.
 * The real agent exports to jsonl (checked here) and, through the real
 * Collector, to Jaeger and the metrics pipeline.
 *
 * The independent references: the programs' own view (pids, thread ids,
 * answers, local ports), dnsmasq's query log, bpftool's list of the agent's
 * programs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attrs, type AgentRun } from './helpers/agent';
import { ensureBackends, flattenMetrics, waitFor, type CollectorHandle, type JaegerHandle } from './helpers/backends';
import { DnsLab } from './helpers/dns-lab';
import { dnsctl as runDnsctl, startDnsAgent, startDnsBackends, stopDnsBackends, typedCurlTrace, type DnsBackends, type DnsctlRun, type LookupResult } from './helpers/dns-trace';

const DNSWIRE = path.resolve(__dirname, '../../test/helpers/dnswire.py');
const DNS_CLIENT_SRC = path.resolve(__dirname, '../../test/fixtures/dns_client.c');
const GO_RESOLVE_SRC = path.resolve(__dirname, '../../test/fixtures/go_resolve.go');
/** The Go toolchain the backends are built with (scripts/build-backends.sh), and its caches. */
const GO = process.env.GO ?? '/usr/local/go/bin/go';
const GO_CACHE = process.env.EBPF_OTEL_CACHE ?? '/var/cache/ebpf-otel';
const DOMAIN = 'socktest';

type Json = Record<string, unknown>;

interface ClientRun { pid: number; ok: boolean; addr: string; sport: number; error: number }
interface WireRun { pid: number; tid: number; id: number; rcode: number; answers: string[] }

function durationNs(span: Json): bigint {
  return BigInt(span.endTimeUnixNano as string) - BigInt(span.startTimeUnixNano as string);
}

/**
 * The BPF programs a process holds (the kernel's /proc/<pid>/fdinfo: prog_id of its program and link
 * descriptors), named and typed by bpftool.
 */
function programsOf(pid: number): Array<{ name: string; type: string }> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info = '';
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const id = /^prog_id:\s*(\d+)$/m.exec(info)?.[1];
    if (id !== undefined) ids.add(Number(id));
  }
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as Array<{ id: number; name?: string; type: string }>;
  return all.filter((p) => ids.has(p.id)).map((p) => ({ name: p.name ?? '', type: p.type }));
}

before(() => {
  ensureBackends();
});

describe('dns, socket source: DNS responses at the socket become lookups, for every program', { timeout: 240_000 }, () => {
  const service = `e2e-dns-socket-${process.pid}-${Date.now()}`;
  let lab: DnsLab;
  let jaeger: JaegerHandle;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let backends: DnsBackends;
  let port: number;
  let since = 0;
  let buildDir = '';
  let hostileSent = 0;

  before(async () => {
    buildDir = mkdtempSync(path.join(tmpdir(), 'ebpf-otel-dns-socket-'));
    execFileSync('musl-gcc', ['-O2', '-static', '-o', path.join(buildDir, 'musl-static'), DNS_CLIENT_SRC]);
    execFileSync(GO, ['build', '-o', path.join(buildDir, 'go_resolve'), GO_RESOLVE_SRC], {
      env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-buildvcs=false', GOCACHE: path.join(GO_CACHE, 'gocache'), GOPATH: path.join(GO_CACHE, 'gopath'), GOMODCACHE: path.join(GO_CACHE, 'gomod') },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    lab = await DnsLab.start({
      domain: DOMAIN,
      records: {
        [`web.${DOMAIN}`]: '127.0.0.1',
        [`curl.${DOMAIN}`]: '127.14.0.1',
        [`static.${DOMAIN}`]: '127.17.0.3',
        [`own.${DOMAIN}`]: '127.18.0.1',
        [`go.${DOMAIN}`]: '127.20.0.1',
        [`slow.${DOMAIN}`]: '127.13.0.1',
        [`typed.${DOMAIN}`]: '127.15.0.1',
        [`after.${DOMAIN}`]: '127.19.0.1',
      },
      hosts: { 'fromhosts.hoststest': '127.16.0.1' },
    });
    backends = await startDnsBackends();
    ({ jaeger, collector, port } = backends);
    since = Date.now() - 1000;
    // The defaults' probes and --dns-source (auto).
    agent = await startDnsAgent(backends, service, []);
  });

  after(async () => {
    await stopDnsBackends(agent, backends, lab);
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  const dnsctl = (...args: string[]): Promise<DnsctlRun> => runDnsctl(lab, ...args);
  async function wire(...args: string[]): Promise<WireRun> {
    const out = await lab.run(['python3', DNSWIRE, ...args]);
    assert.equal(out.status, 0, out.stderr);
    return JSON.parse(out.stdout) as WireRun;
  }

  const lookupSpan = (pid: number, name: string, type?: string) => (o: Json): boolean =>
    o.name === 'dns lookup' && attrs(o)['process.pid'] === pid && attrs(o)['dns.question.name'] === name &&
    (type === undefined || attrs(o)['ebpf_otel.dns.record_type'] === type);
  const connectSpan = (pid: number, sport: number) => (o: Json): boolean =>
    o.name === 'tcp connect' && attrs(o)['process.pid'] === pid && attrs(o)['network.local.port'] === sport;

  it('auto chose the socket source, said so once, and nothing of the libc source is loaded (bpftool)', () => {
    assert.equal((agent.stderr().match(/dns: source sockets \(--dns-source auto: the kernel has the sock_recv_length tracepoint\)/g) ?? []).length, 1, agent.stderr());
    assert.doesNotMatch(agent.stderr(), /dns: watching getaddrinfo/);
    const programs = programsOf(agent.child.pid as number);
    const names = programs.map((p) => p.name);
    assert.ok(names.includes('dns_send') && names.includes('dns_recv'), `socket programs loaded: ${names.join(', ')}`);
    // bpf/dns.bpf.c's programs: handle_getaddrinfo, handle_gethostbyname*, handle_return.
    assert.deepEqual(programs.filter((p) => /^handle_(get|return)/.test(p.name)).map((p) => p.name), [], 'no resolver uprobe program');
    // The only uprobe programs (type kprobe) are the bash probe's, on bash's readline.
    const uprobes = programs.filter((p) => p.type === 'kprobe').map((p) => p.name);
    assert.ok(uprobes.length > 0, 'the bash probe\'s uprobes are seen by this check');
    // bpf/bash.bpf.c's programs (handle_readline_entry, handle_readline_return, handle_teardown), as the kernel keeps names: 15 bytes.
    for (const name of uprobes) assert.match(name, /^handle_(readlin|teardown)/, `uprobe program ${name} is the bash probe's`);
  });

  it('python3 (glibc, connected socket): a lookup span with the answer and the server, and a connect named by it', async () => {
    const run = await dnsctl('lookup', `web.${DOMAIN}`, String(port), '--family', '4');
    const r = run.results[0] as LookupResult;
    assert.deepEqual(r.addrs, ['127.0.0.1']);
    const lookup = await agent.waitForJson(lookupSpan(run.pid, `web.${DOMAIN}`, 'A'));
    const a = attrs(lookup);
    assert.equal(lookup.kind, 2, 'CLIENT');
    assert.deepEqual(a['dns.answers'], ['127.0.0.1']);
    assert.equal(a['ebpf_otel.dns.source'], 'socket');
    assert.equal(a['network.peer.address'], lab.server);
    assert.equal(a['network.peer.port'], 53);
    assert.equal(a['thread.id'], r.tid, 'received on the calling thread');
    assert.equal(a['error.type'], undefined);
    // From the query's send to the response: inside python's own measurement of getaddrinfo().
    assert.ok(durationNs(lookup) > 0n && durationNs(lookup) <= BigInt(r.t1 - r.t0), `lookup ${durationNs(lookup)} ns within python's ${r.t1 - r.t0} ns`);
    assert.match(lab.dnsmasqLog(), new RegExp(`query\\[A\\] web\\.${DOMAIN} from`));
    const connect = await agent.waitForJson(connectSpan(run.pid, r.sport as number));
    assert.equal(attrs(connect)['server.address'], `web.${DOMAIN}`);
    assert.equal(attrs(connect)['network.peer.address'], '127.0.0.1');
  });

  it('curl: an A and an AAAA lookup (one span per response), its connect named', async () => {
    const out = await lab.run(['curl', '-s', '-o', '/dev/null', '-w', '%{local_port}\\n', '--max-time', '10', `http://curl.${DOMAIN}:${port}/`]);
    const sport = Number(out.stdout.trim());
    assert.ok(sport > 0, `curl connected (stdout ${out.stdout}, stderr ${out.stderr})`);
    const connect = await agent.waitForJson((o) => o.name === 'tcp connect' && attrs(o)['network.local.port'] === sport && attrs(o)['process.executable.name'] === 'curl');
    const pid = attrs(connect)['process.pid'] as number;
    assert.equal(attrs(connect)['server.address'], `curl.${DOMAIN}`);
    const a = await agent.waitForJson(lookupSpan(pid, `curl.${DOMAIN}`, 'A'));
    assert.deepEqual(attrs(a)['dns.answers'], ['127.14.0.1']);
    const aaaa = await agent.waitForJson(lookupSpan(pid, `curl.${DOMAIN}`, 'AAAA'));
    assert.equal(attrs(aaaa)['error.type'], 'no_data', 'no AAAA record: NOERROR without an answer');
    assert.equal(attrs(aaaa)['ebpf_otel.dns.result_code'], 'NOERROR');
    assert.ok(BigInt(a.endTimeUnixNano as string) <= BigInt(connect.startTimeUnixNano as string), 'resolved before connecting');
  });

  it('a statically linked musl program (no C library to probe): its lookup is seen and names its connect', async () => {
    const run = JSON.parse((await lab.run([path.join(buildDir, 'musl-static'), 'getaddrinfo', `static.${DOMAIN}`, String(port)])).stdout) as ClientRun;
    assert.equal(run.ok, true);
    assert.equal(run.addr, '127.17.0.3');
    const lookup = await agent.waitForJson(lookupSpan(run.pid, `static.${DOMAIN}`, 'A'));
    assert.deepEqual(attrs(lookup)['dns.answers'], ['127.17.0.3']);
    assert.equal(attrs(lookup)['process.executable.name'], 'musl-static');
    const connect = await agent.waitForJson(connectSpan(run.pid, run.sport));
    assert.equal(attrs(connect)['server.address'], `static.${DOMAIN}`);
  });

  it('Go\'s pure-Go resolver (CGO_ENABLED=0, static, write/read on a connected socket): an A and an AAAA lookup, its connect named', async () => {
    const out = await lab.run([path.join(buildDir, 'go_resolve'), `go.${DOMAIN}`, String(port)]);
    const run = JSON.parse(out.stdout) as { pid: number; addrs: string[]; sport: number; error: string };
    assert.equal(run.error, '', out.stderr);
    assert.deepEqual(run.addrs, ['127.20.0.1']);
    const a = await agent.waitForJson(lookupSpan(run.pid, `go.${DOMAIN}`, 'A'));
    assert.deepEqual(attrs(a)['dns.answers'], ['127.20.0.1']);
    await agent.waitForJson(lookupSpan(run.pid, `go.${DOMAIN}`, 'AAAA'));
    const connect = await agent.waitForJson(connectSpan(run.pid, run.sport));
    assert.equal(attrs(connect)['server.address'], `go.${DOMAIN}`);
  });

  it('a name that does not exist: NXDOMAIN is an error span (host_not_found, as EAI_NONAME)', async () => {
    const run = await dnsctl('lookup', `nope.${DOMAIN}`, String(port), '--family', '4');
    const r = run.results[0] as LookupResult;
    assert.equal(r.error, -2, 'python saw EAI_NONAME');
    const lookup = await agent.waitForJson(lookupSpan(run.pid, `nope.${DOMAIN}`));
    assert.equal(attrs(lookup)['error.type'], 'host_not_found');
    assert.equal(attrs(lookup)['ebpf_otel.dns.result_code'], 'NXDOMAIN');
    assert.equal(attrs(lookup)['dns.answers'], undefined);
    assert.equal((lookup.status as Json).code, 'ERROR');
    assert.match(lab.dnsmasqLog(), new RegExp(`nope\\.${DOMAIN} is NXDOMAIN`));
  });

  for (const mode of ['sendto', 'sendmsg', 'connect'] as const) {
    it(`a program's own DNS client (${mode === 'connect' ? 'connected socket, send and read' : `unconnected socket, ${mode}`}): seen, with its answer`, async () => {
      const run = await wire('query', lab.server, `own.${DOMAIN}`, mode);
      assert.deepEqual(run.answers, ['127.18.0.1'], 'dnsmasq answered');
      const lookup = await agent.waitForJson(lookupSpan(run.pid, `own.${DOMAIN}`, 'A'));
      assert.deepEqual(attrs(lookup)['dns.answers'], ['127.18.0.1']);
      assert.equal(attrs(lookup)['thread.id'], run.tid);
      assert.equal(attrs(lookup)['network.peer.address'], lab.server);
    });
  }

  it('a slow answer (first query dropped, retried after 1 s): the lookup counts from the first send', async () => {
    lab.dropNextQuery();
    let run: DnsctlRun;
    try {
      run = await dnsctl('lookup', `slow.${DOMAIN}`, String(port), '--family', '4');
    } finally {
      lab.clearDrop();
    }
    const r = run.results[0] as LookupResult;
    assert.equal(r.ok, true);
    assert.ok(r.t1 - r.t0 >= 1e9, 'python waited for the retry');
    const lookup = await agent.waitForJson(lookupSpan(run.pid, `slow.${DOMAIN}`, 'A'));
    const d = durationNs(lookup);
    assert.ok(d >= 1_000_000_000n && d <= BigInt(r.t1 - r.t0), `lookup ${d} ns: at least the 1 s resolver timeout, within python's ${r.t1 - r.t0} ns`);
  });

  it('not seen, as documented: a name from /etc/hosts sends no query', async () => {
    const run = await dnsctl('lookup', 'fromhosts.hoststest', String(port), '--family', '4');
    const r = run.results[0] as LookupResult;
    assert.deepEqual(r.addrs, ['127.16.0.1']);
    const connect = await agent.waitForJson(connectSpan(run.pid, r.sport as number));
    assert.equal(attrs(connect)['server.address'], '127.16.0.1', 'no name: the IP');
    assert.equal(agent.jsonLines().filter((o) => o.name === 'dns lookup' && attrs(o)['process.pid'] === run.pid).length, 0);
  });

  it('a hostile local user (unprivileged) sends malformed messages and a spoofed answer (wrong id) to a DNS client socket: counted, no span, the agent carries on', async () => {
    // An address nobody listens on: the bait query marks the socket and gets no answer.
    const before = agent.jsonLines().length;
    // Debian's python3 (a user-local interpreter may not be reachable by nobody).
    const out = await lab.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', DNSWIRE, 'hostile', '127.54.0.1']);
    assert.equal(out.status, 0, out.stderr);
    const run = JSON.parse(out.stdout) as { pid: number; sent: number; spoofed: number };
    hostileSent = run.sent;
    assert.equal(run.sent, 8);
    assert.equal(run.spoofed, 1);
    // The agent still works: a lookup after the storm is a span.
    const after = await wire('query', lab.server, `after.${DOMAIN}`, 'sendto');
    await agent.waitForJson(lookupSpan(after.pid, `after.${DOMAIN}`));
    assert.equal(agent.jsonLines().slice(before).filter((o) => attrs(o)['process.pid'] === run.pid).length, 0, 'no span from the hostile messages');
    assert.equal(agent.child.exitCode, null, 'the agent runs');
  });

  it('a command typed in bash: line -> process -> dns lookup -> connect, one trace in Jaeger', async () => {
    const { curl, lookup, connect, shape } = await typedCurlTrace({
      lab, jaeger, agent, service, since, name: `typed.${DOMAIN}`, port, isLookup: (s) => s.attributes['ebpf_otel.dns.record_type'] === 'A',
    });
    assert.ok(curl, `a curl process span under the command; ${shape}`);
    assert.equal(lookup.parentSpanId, curl.spanId, `dns lookup under curl; ${shape}`);
    assert.equal(connect.parentSpanId, curl.spanId, `tcp connect under curl; ${shape}`);
    assert.equal(lookup.attributes['dns.question.name'], `typed.${DOMAIN}`);
    assert.equal(lookup.attributes['ebpf_otel.dns.source'], 'socket');
    assert.equal(connect.attributes['server.address'], `typed.${DOMAIN}`);
    assert.ok(lookup.endTimeUnixNano <= connect.startTimeUnixNano, 'lookup, then connect');
  });

  it('metrics: lookups by outcome, the malformed messages as decode errors, nothing lost in the kernel', async () => {
    const points = await waitFor(
      () => Promise.resolve(flattenMetrics(collector.readMetrics()).filter((p) => p.resource['service.name'] === service)),
      (all) => all.some((p) => p.name === 'ebpf_otel.dns.lookups' && p.attributes['ebpf_otel.dns.outcome'] === 'host_not_found') &&
        all.some((p) => p.name === 'ebpf_otel.dns.lookups' && p.attributes['ebpf_otel.dns.outcome'] === 'no_data') &&
        all.some((p) => p.name === 'ebpf_otel.decode.errors' && p.attributes['ebpf_otel.reason'] === 'dns_malformed' && p.value >= hostileSent) &&
        all.some((p) => p.name === 'dns.lookup.duration' && p.attributes['error.type'] === undefined && (p.count ?? 0) >= 8),
      { timeoutMs: 20_000, intervalMs: 500, what: 'dns metrics in the collector' },
    );
    const last = (name: string, where: (a: Record<string, unknown>) => boolean): number =>
      points.filter((p) => p.name === name && where(p.attributes)).at(-1)?.value ?? -1;
    assert.equal(last('ebpf_otel.decode.errors', (a) => a['ebpf_otel.reason'] === 'dns_malformed'), hostileSent, 'each malformed message counted once');
    assert.equal(last('ebpf_otel.decode.errors', (a) => a['ebpf_otel.reason'] === 'dns_unmatched'), 1, 'the spoofed answer');
    assert.ok(last('ebpf_otel.dns.lookups', (a) => a['ebpf_otel.dns.outcome'] === 'success') >= 8);
    for (const reason of ['ringbuf_full', 'buffer_unreadable', 'unsupported_receive', 'socket_storage_full']) {
      assert.equal(last('ebpf_otel.events.lost', (a) => a['ebpf_otel.probe'] === 'dns' && a['ebpf_otel.reason'] === reason), 0, `dns ${reason}`);
    }
  });

  it('the agent exits cleanly: the hostile messages are its only decode errors', async () => {
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), new RegExp(`decode errors: dns_malformed=${hostileSent} dns_unmatched=1;`));
    assert.match(agent.stderr(), /spans dropped: 0/);
    assert.doesNotMatch(agent.stderr(), /lost in kernel: [^;]*dns/);
  });
});
