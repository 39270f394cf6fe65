/**
 * The agent as users run it: flags, bad input, and real connects coming out
 * as jsonl spans.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { attrs, startAgent, startAgentIn } from './helpers/agent';
import { connect, freePort, listen } from './helpers/net';

describe('ebpf-otel command line', () => {
  it('--help lists the options and exits 0', async () => {
    const run = startAgent(['--help']);
    assert.equal(await run.exited, 0);
    assert.match(run.stdout(), /--exporter LIST/);
    assert.match(run.stdout(), /EBPF_OTEL_PORT/);
  });

  const usageErrors: Array<[string[], Record<string, string>, RegExp]> = [
    [['--bogus'], {}, /Unknown option '--bogus'/],
    [['--port', 'abc'], {}, /--port "abc"/],
    [['--otlp-endpoint', 'ftp://collector:4317'], {}, /takes http:\/\/ or https:\/\//],
    [[], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[::1' }, /OTEL_EXPORTER_OTLP_ENDPOINT.*not a URL/],
    [[], { EBPF_OTEL_EXPORTER: 'kafka' }, /expected one of otlp, console, jsonl/],
  ];
  for (const [args, env, message] of usageErrors) {
    it(`bad input ${JSON.stringify(args)} ${JSON.stringify(env)}: exit 2 with a clear message`, async () => {
      const run = startAgent(args, env);
      assert.equal(await run.exited, 2);
      assert.match(run.stderr(), message);
      assert.doesNotMatch(run.stderr(), /\n\s+at /, 'no stack trace');
    });
  }

  it('a missing BTF file: exit 1, names the problem and the fix', async () => {
    const run = startAgent(['--btf', '/nonexistent/vmlinux', '--exporter', 'jsonl']);
    assert.equal(await run.exited, 1);
    assert.match(run.stderr(), /--btf \/nonexistent\/vmlinux: no such readable file/);
  });

  it('missing BPF objects: exit 1, says how to build them', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'eo-empty-'));
    const run = startAgent(['--bpf-dir', empty, '--exporter', 'jsonl']);
    assert.equal(await run.exited, 1);
    assert.match(run.stderr(), /tcpconnect\.bpf\.o is missing: build the BPF programs with scripts\/bootstrap\.sh/);
  });

  it('tracefs not mounted (a fresh machine): every probe runs, nothing is mounted', async () => {
    // A private mount namespace, so the machine's own tracefs stays mounted.
    const child = startAgentIn('unshare', ['-m', 'sh', '-c', `umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; "$0" "$@"; rc=$?; test -e /sys/kernel/tracing/events && echo "tracefs was mounted" >&2; exit $rc`]);
    const unshared = child(['--exporter', 'jsonl', '--duration', '1']);
    assert.equal(await unshared.exited, 0, unshared.stderr());
    assert.match(unshared.stderr(), /tcp: watching TCP connects \(tp_btf inet_sock_set_state\)/);
    assert.match(unshared.stderr(), /exec: watching process exec/);
    assert.doesNotMatch(unshared.stderr(), /tracefs was mounted|mounted tracefs/);
  });

  it('without privileges: exit 1, says which capabilities are needed', async () => {
    const run = startAgent(['--exporter', 'jsonl'], {}, { uid: 65534, gid: 65534 });
    assert.equal(await run.exited, 1);
    assert.match(run.stderr(), /not enough privileges to load eBPF programs.*CAP_BPF and CAP_PERFMON/);
  });
});

describe('ebpf-otel with real connects', () => {
  it('jsonl: a successful and a refused connect become spans with attributes and status', async () => {
    const listener = await listen('127.0.0.1', await freePort());
    const closed = await freePort();
    // No span cap: other activity on the machine must not crowd out the test's spans.
    const run = startAgent(['--exporter', 'jsonl', '--probes', 'tcp', '--max-spans-per-second', '0']);
    try {
      await run.waitForStderr(/running/);
      const ok = await connect('127.0.0.1', listener.port);
      const refused = await connect('127.0.0.1', closed);
      const okSpan = await run.waitForJson((s) => attrs(s)['process.pid'] === ok.pid);
      const badSpan = await run.waitForJson((s) => attrs(s)['process.pid'] === refused.pid);
      assert.equal(okSpan.name, 'tcp connect');
      assert.equal((okSpan.status as { code: string }).code, 'UNSET');
      assert.equal(attrs(okSpan)['network.peer.port'], listener.port);
      assert.equal(attrs(okSpan)['network.local.port'], ok.results[0]?.sport);
      assert.equal(attrs(okSpan)['process.executable.name'], 'python3');
      assert.equal(attrs(okSpan)['process.owner'], 'root');
      assert.equal((badSpan.status as { code: string }).code, 'ERROR');
      assert.equal(attrs(badSpan)['error.type'], 'connection_refused');
      assert.equal(attrs(badSpan)['ebpf_otel.tcp.socket_error'], 'ECONNREFUSED');
      // Wall-clock start within a second of now: the kernel clock was converted.
      assert.ok(Math.abs(Date.parse(String(okSpan.startTime)) - Date.now()) < 10_000);
    } finally {
      assert.equal(await run.stop(), 0);
      listener.stop();
    }
    assert.match(run.stderr(), /events received: tcp=\d+/);
  });

  it('a collector that is not listening: keeps running, says so, exits 0', async () => {
    const deadPort = await freePort();
    const closed = await freePort();
    const run = startAgent(['--exporter', 'otlp,jsonl', '--otlp-endpoint', `http://127.0.0.1:${deadPort}`, '--probes', 'tcp', '--port', String(closed), '--metric-interval-ms', '500']);
    try {
      await run.waitForStderr(/running/);
      const refused = await connect('127.0.0.1', closed);
      await run.waitForJson((s) => attrs(s)['process.pid'] === refused.pid);
      await run.waitForStderr(/otlp: export failed/, 20_000);
      assert.equal(run.child.exitCode, null, 'still running');
    } finally {
      assert.equal(await run.stop(), 0);
    }
    assert.match(run.stderr(), /spans could not be delivered before shutdown|spans dropped: otlp\/shutdown=\d+/);
  });
});
