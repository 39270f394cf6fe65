import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, helpText, parseCommandLine, type AgentConfig } from '../receiver/src/config';

function run(argv: string[], env: Record<string, string> = {}): AgentConfig {
  const parsed = parseCommandLine(argv, env);
  assert.equal(parsed.kind, 'run');
  return (parsed as { kind: 'run'; config: AgentConfig }).config;
}

describe('command line and environment', () => {
  it('has working defaults', () => {
    const c = run([]);
    assert.deepEqual(c.exporters, ['otlp', 'console']);
    assert.deepEqual(c.probes, ['tcp', 'exec', 'bash', 'dns']);
    assert.equal(c.includeLoopback, true);
    assert.equal(c.metricIntervalMs, 60000);
    assert.equal(c.redact, true);
    assert.equal(c.traceExecs, 'interactive');
  });

  it('reads flags, EBPF_OTEL_* and OTEL_* variables, flags first', () => {
    const c = run(['--port', '443', '--min-latency-ms', '1.5', '--no-loopback', '--exporter', 'jsonl'], {
      EBPF_OTEL_PORT: '80',
      EBPF_OTEL_PID: '1234',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
    });
    assert.equal(c.port, 443);
    assert.equal(c.pid, 1234);
    assert.equal(c.minLatencyNs, 1_500_000n);
    assert.equal(c.includeLoopback, false);
    assert.deepEqual(c.exporters, ['jsonl']);
    assert.equal(c.otlpEndpoint, 'http://collector:4317');
    assert.equal(c.metricIntervalMs, 5000);
  });

  it('list variables: paths by comma, patterns by line', () => {
    const c = run([], { EBPF_OTEL_BASH: '/bin/bash,/opt/bash', EBPF_OTEL_REDACT_PATTERN: 'a{1,3}:b\nx' });
    assert.deepEqual(c.bashPaths, ['/bin/bash', '/opt/bash']);
    assert.deepEqual(c.redactPatterns.map((r) => r.source), ['a{1,3}:b', 'x']);
  });

  it('dns: C libraries by --libc or EBPF_OTEL_LIBC, names on metrics only when asked', () => {
    const c = run(['--libc', '/lib/x86_64-linux-gnu/libc.so.6', '--libc', '/lib/ld-musl-x86_64.so.1']);
    assert.deepEqual(c.libcPaths, ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/ld-musl-x86_64.so.1']);
    assert.equal(c.dnsMetricNames, false);
    assert.deepEqual(run([], { EBPF_OTEL_LIBC: '/a/libc.so.6,/b/libc.so.6' }).libcPaths, ['/a/libc.so.6', '/b/libc.so.6']);
    assert.equal(run(['--dns-metric-names']).dnsMetricNames, true);
  });

  it('dns: --dns-source auto by default, or EBPF_OTEL_DNS_SOURCE; --libc chooses the libc source, and contradicts sockets', () => {
    assert.equal(run([]).dnsSource, 'auto');
    assert.equal(run(['--dns-source', 'sockets']).dnsSource, 'sockets');
    assert.equal(run([], { EBPF_OTEL_DNS_SOURCE: 'libc' }).dnsSource, 'libc');
    assert.equal(run(['--libc', '/lib/x86_64-linux-gnu/libc.so.6']).dnsSource, 'libc');
    assert.throws(() => run(['--dns-source', 'udp']), /--dns-source "udp": expected one of auto, sockets, libc/);
    assert.throws(() => run(['--dns-source', 'sockets', '--libc', '/x/libc.so.6']), /--libc names C libraries to probe, but --dns-source is sockets/);
    assert.throws(() => run(['--libc', '/x/libc.so.6'], { EBPF_OTEL_DNS_SOURCE: 'sockets' }), /EBPF_OTEL_DNS_SOURCE is sockets/);
  });

  it('maps OTEL_TRACES_EXPORTER when --exporter is not given', () => {
    assert.deepEqual(run([], { OTEL_TRACES_EXPORTER: 'console' }).exporters, ['console']);
    assert.deepEqual(run([], { OTEL_TRACES_EXPORTER: 'none' }).exporters, []);
  });

  const bad: Array<[string[], Record<string, string>, RegExp]> = [
    [['--bogus'], {}, /Unknown option '--bogus'/],
    [['--port', '70000'], {}, /--port "70000": expected a whole number from 0 to 65535/],
    [['--port', 'http'], {}, /--port "http"/],
    [[], { EBPF_OTEL_PORT: 'x' }, /EBPF_OTEL_PORT "x"/],
    [['--exporter', 'zipkin'], {}, /expected one of otlp, console, jsonl/],
    [['--exporter', 'console,jsonl'], {}, /both write to stdout/],
    [['--otlp-endpoint', 'ftp://x'], {}, /takes http:\/\/ or https:\/\//],
    [[], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[bad' }, /OTEL_EXPORTER_OTLP_ENDPOINT=.*is not a URL/],
    [[], { OTEL_METRIC_EXPORT_INTERVAL: 'soon' }, /OTEL_METRIC_EXPORT_INTERVAL/],
    [['--sample-success', '2'], {}, /from 0 to 1/],
    [['--redact-pattern', '(['], {}, /refused: .*RE2/],
    [['--redact-pattern', '(a)\\1'], {}, /refused: .*backreferences/],
    [['--probes', 'tcp,udp'], {}, /expected one of tcp, exec, bash, dns/],
    [['--trace-execs', 'some'], {}, /expected one of all, interactive, none/],
    [['extra'], {}, /Unexpected argument 'extra'/],
  ];
  for (const [argv, env, message] of bad) {
    it(`rejects ${JSON.stringify(argv)} ${JSON.stringify(env)}`, () => {
      assert.throws(() => parseCommandLine(argv, env), (e: unknown) => e instanceof ConfigError && message.test(e.message));
    });
  }

  it('documents every option with its variable', () => {
    const text = helpText('1.2.3');
    for (const flag of ['--exporter', '--pid', '--port', '--min-latency-ms', '--no-loopback', '--trace-execs']) assert.match(text, new RegExp(flag));
    assert.match(text, /EBPF_OTEL_MIN_LATENCY_MS/);
  });
});
