/**
 * What a hostile or unlucky local user can do to the user-space side, on
 * synthetic events: pasted secrets as commands, pid reuse, state tables
 * filled by a fork storm, endless multi-line input, a span storm against the
 * shared sampling budget, terminal escapes in what is printed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { KernelClock } from '../receiver/src/clock';
import { createRedactor } from '../receiver/src/commands/redact';
import { isShared, markShared } from '../receiver/src/shared-arrays';
import { CommandTracer, MAX_COMMAND_BYTES, NOT_RUN, ttyFromDevice, type TableName } from '../receiver/src/commands/tracer';
import { CAP_BPF, capabilitiesToKeep } from '../receiver/src/privileges';
import type { BashPromptEvent, BashReadlineEvent } from '../receiver/src/decode/bash';
import type { ProcExecEvent, ProcExitEvent, ProcForkEvent } from '../receiver/src/decode/proc';
import { formatSpanLine, jsonLines, JsonLinesExporter, spanJsonLine, spanToJson } from '../receiver/src/export/console';
import { startRecordingSpan, type SpanSink } from '../receiver/src/export/finished-span';
import { LruMap } from '../receiver/src/lru';
import { GatedSpanProcessor, SpanGate } from '../receiver/src/sampling';
import type { TraceExecsMode } from '../receiver/src/config';

const MS = 1_000_000n;
const base = { cgroupId: 1n, uid: 0, gid: 0, tid: 0 };
const line = (pid: number, ts: bigint, text: string, commandLine = 0): BashReadlineEvent => ({
  kind: 'bash_readline', ...base, pid, tid: pid, timestampNs: ts, comm: 'bash', line: text, lineLength: text.length,
  truncated: false, lengthKnown: true, eof: false, unreadable: false, fromReturn: false, commandLine,
});
const prompt = (pid: number, ts: bigint, commandLine = 0): BashPromptEvent => ({ kind: 'bash_prompt', ...base, pid, tid: pid, timestampNs: ts, comm: 'bash', commandLine });
const fork = (pid: number, ppid: number, ts: bigint): ProcForkEvent => ({ kind: 'proc_fork', ...base, pid, ppid, parentTid: ppid, timestampNs: ts, comm: 'bash' });
const exec = (pid: number, ppid: number, ts: bigint, startNs: bigint, file: string, args: string[]): ProcExecEvent => ({
  kind: 'proc_exec', ...base, pid, tid: pid, ppid, oldTid: pid, timestampNs: ts, startNs, sessionId: 0, tty: 'pts/0', comm: file.split('/').pop() ?? '',
  filename: file, filenameTruncated: false, argc: args.length, args, argsText: args.join('\0'), argsTruncated: false, argsUnreadable: false, argsSizeTotal: 0,
});
const exit = (pid: number, ppid: number, ts: bigint, startNs: bigint, code: number): ProcExitEvent => ({
  kind: 'proc_exit', ...base, pid, tid: pid, ppid, timestampNs: ts, startNs, durationNs: ts - startNs, comm: 'x', waitStatus: code << 8,
  termination: { kind: 'exited', code },
});

function setup(traceExecs: TraceExecsMode = 'interactive', limits: Partial<Record<TableName, number>> = {}) {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const clock = new KernelClock(() => ({ realtimeNs: 1_000_000_000_000n, monotonicNs: 0n }));
  const commands: string[] = [];
  const evicted: string[] = [];
  const tracer = new CommandTracer(provider.getTracer('t'), clock, {
    traceExecs, redactor: createRedactor(true), limits, onCommand: (n) => commands.push(n), onEvicted: (t) => evicted.push(t),
  });
  return { tracer, spans: (): ReadableSpan[] => exporter.getFinishedSpans(), commands, evicted };
}

describe('commands are named after what ran', () => {
  it('a pasted password: a fixed name, the line hidden, the metric label fixed', () => {
    const { tracer, spans, commands } = setup();
    tracer.onReadline(line(100, 1n * MS, 'Tr0ub4dor-hunter2'));
    tracer.onFork(fork(101, 100, 2n * MS));
    tracer.onExit(exit(101, 100, 3n * MS, 2n * MS, 127)); // bash: command not found
    tracer.onPrompt(prompt(100, 4n * MS));
    const root = spans().find((s) => s.attributes['process.command_line'] !== undefined);
    assert.equal(root?.name, NOT_RUN);
    assert.equal(root?.attributes['process.command_line'], '****');
    assert.deepEqual(commands, [NOT_RUN]);
    assert.ok(!JSON.stringify(spans().map((s) => [s.name, s.attributes])).includes('hunter2'));
  });

  it('after the executable from the exec event, or the builtin', () => {
    const { tracer, spans, commands } = setup();
    tracer.onReadline(line(100, 1n * MS, 'DB_PASSWORD=x ./deploy --fast'));
    tracer.onFork(fork(101, 100, 2n * MS));
    tracer.onExec(exec(101, 100, 3n * MS, 2n * MS, '/srv/app/deploy', ['./deploy', '--fast']));
    tracer.onExit(exit(101, 100, 4n * MS, 2n * MS, 0));
    tracer.onPrompt(prompt(100, 5n * MS));
    tracer.onReadline(line(100, 6n * MS, 'cd /tmp'));
    tracer.onPrompt(prompt(100, 7n * MS));
    assert.deepEqual(commands, ['deploy', 'cd']);
    assert.deepEqual(spans().filter((s) => s.parentSpanContext === undefined).map((s) => s.name), ['deploy', 'cd']);
  });
});

describe('pid reuse', () => {
  it('a reused pid starts a new process; the old one ends, marked exit unseen', () => {
    const { tracer, spans } = setup();
    tracer.onReadline(line(100, 1n * MS, 'sleep 100 &'));
    tracer.onFork(fork(500, 100, 2n * MS));
    tracer.onExec(exec(500, 100, 3n * MS, 2n * MS, '/usr/bin/sleep', ['sleep', '100']));
    tracer.onPrompt(prompt(100, 4n * MS));
    // Its exit was lost; later pid 500 is given to another command's process.
    tracer.onReadline(line(100, 10n * MS, 'ls'));
    tracer.onFork(fork(500, 100, 11n * MS));
    tracer.onExec(exec(500, 100, 12n * MS, 11n * MS, '/usr/bin/ls', ['ls']));
    // A late exit of the first incarnation must not end the second.
    tracer.onExit(exit(500, 100, 13n * MS, 2n * MS, 0));
    const ls = (): ReadableSpan | undefined => spans().find((s) => s.name === 'ls' && s.parentSpanContext !== undefined);
    assert.equal(ls(), undefined, 'the new ls is still running');
    tracer.onExit(exit(500, 100, 14n * MS, 11n * MS, 0));
    tracer.onPrompt(prompt(100, 15n * MS));
    const sleep = spans().find((s) => s.name === 'sleep' && s.parentSpanContext !== undefined);
    assert.equal(sleep?.attributes['ebpf_otel.process.exit_seen'], false);
    const lsRoot = spans().find((s) => s.name === 'ls' && s.parentSpanContext === undefined);
    assert.equal(ls()?.parentSpanContext?.spanId, lsRoot?.spanContext().spanId);
    assert.notEqual(sleep?.spanContext().traceId, ls()?.spanContext().traceId);
    assert.equal(ls()?.attributes['process.exit.code'], 0);
  });

  it('connects of a reused pid do not go under the old process', () => {
    const { tracer } = setup();
    tracer.onReadline(line(100, 1n * MS, 'curl x'));
    tracer.onFork(fork(600, 100, 2n * MS));
    tracer.onExec(exec(600, 100, 3n * MS, 2n * MS, '/usr/bin/curl', ['curl', 'x']));
    tracer.onExit(exit(600, 100, 4n * MS, 2n * MS, 0));
    assert.ok(tracer.contextFor(600, 3n * MS), 'a finished process stays findable for its late connects');
    // A connect that began after the exit belongs to a new process with the pid, even unseen.
    assert.equal(tracer.contextFor(600, 4n * MS + 1n), undefined);
    tracer.onFork(fork(600, 1, 5n * MS)); // a daemon now has pid 600
    assert.equal(tracer.contextFor(600), undefined);
  });
});

describe('bounded state', () => {
  it('a fork storm fills the process table to its limit; evictions are counted and spans ended', () => {
    const { tracer, spans, evicted } = setup('all', { procs: 50, tombstones: 20 });
    for (let i = 0; i < 1000; i++) {
      tracer.onFork(fork(10_000 + i, 1, BigInt(i) * MS));
      tracer.onExec(exec(10_000 + i, 1, BigInt(i) * MS + 1n, BigInt(i) * MS, '/bin/true', ['true']));
    }
    assert.equal(tracer.size.procs, 50);
    assert.equal(evicted.filter((t) => t === 'procs').length, 950);
    assert.equal(spans().filter((s) => s.attributes['ebpf_otel.process.evicted'] === true).length, 950);
    for (let i = 950; i < 1000; i++) tracer.onExit(exit(10_000 + i, 1, 2000n * MS, BigInt(i) * MS, 0));
    assert.equal(tracer.size.procs, 0);
    assert.equal(tracer.size.tombstones, 20);
    assert.equal(evicted.filter((t) => t === 'tombstones').length, 30);
  });

  it('many shells fill the shell table to its limit', () => {
    const { tracer, evicted } = setup('interactive', { shells: 10 });
    for (let i = 0; i < 100; i++) tracer.onReadline(line(20_000 + i, BigInt(i) * MS, 'true'));
    assert.equal(tracer.size.shells, 10);
    assert.equal(evicted.length, 90);
  });

  it('an endless multi-line command is capped in bytes and marked truncated', () => {
    const { tracer, spans } = setup();
    tracer.onReadline(line(100, 1n * MS, 'cat <<EOF'));
    const chunk = 'x'.repeat(99);
    for (let i = 1; i <= 5000; i++) tracer.onReadline(line(100, BigInt(i + 1) * MS, chunk, i));
    tracer.onPrompt(prompt(100, 6000n * MS));
    const root = spans()[0];
    assert.ok(String(root?.attributes['process.command_line']).length <= MAX_COMMAND_BYTES);
    assert.equal(root?.attributes['ebpf_otel.command.truncated'], true);
  });

  it('LruMap keeps the most recently used', () => {
    const gone: number[] = [];
    const m = new LruMap<number, string>(2, (k) => gone.push(k));
    m.set(1, 'a');
    m.set(2, 'b');
    m.get(1);
    m.set(3, 'c');
    assert.deepEqual(gone, [2]);
    assert.deepEqual([...m].map(([k]) => k), [1, 3]);
  });
});

describe('one sampling budget for all spans', () => {
  it('a storm of process spans is capped; failures are kept; CLIENT (tcp) spans pass, decided before', () => {
    const exporter = new InMemorySpanExporter();
    let now = 0;
    const gate = new SpanGate({ successRatio: 1, slowThresholdNs: 100n * MS, maxPerSecond: 10 }, () => now);
    const out: string[] = [];
    const provider = new TracerProvider({ spanProcessors: [new GatedSpanProcessor(gate, [new SimpleSpanProcessor({ exporter })], (r) => out.push(r))] });
    const t = provider.getTracer('t');
    for (let i = 0; i < 1000; i++) t.startSpan('true').end();
    for (let i = 0; i < 5; i++) {
      const s = t.startSpan('false');
      s.setStatus({ code: SpanStatusCode.ERROR });
      s.end();
    }
    for (let i = 0; i < 20; i++) t.startSpan('tcp connect', { kind: SpanKind.CLIENT }).end();
    const names = exporter.getFinishedSpans().map((s) => s.name);
    assert.equal(names.filter((n) => n === 'true').length, 10);
    assert.equal(names.filter((n) => n === 'false').length, 5);
    assert.equal(names.filter((n) => n === 'tcp connect').length, 20);
    assert.equal(out.length, 990);
    now = 1000;
    t.startSpan('true').end();
    assert.equal(exporter.getFinishedSpans().length, 36);
  });
});

describe('terminal escapes', () => {
  it('are neutralised in the console and jsonl exporters', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const evil = 'ls \x1b]0;pwned\x07\x1b[2J\x9b31m\u202egnp.exe';
    provider.getTracer('t').startSpan('x\x1b[31m', { attributes: { 'process.pid': 1, 'process.command_args': [evil], 'process.executable.name': 'ls\x1b[8m' } }).end();
    provider.getTracer('t').startSpan('bash', { attributes: { 'process.pid': 1, 'process.command_line': evil } }).end();
    for (const span of exporter.getFinishedSpans()) {
      const text = formatSpanLine(span);
      assert.ok(!/[\x00-\x1f\x7f-\x9f\u202e]/.test(text), JSON.stringify(text));
      assert.match(text, /\\x1b|\\u001b/);
    }
    let json = '';
    new JsonLinesExporter((t) => { json += t; }).export(exporter.getFinishedSpans(), () => undefined);
    assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/.test(json));
    for (const l of json.trim().split('\n')) JSON.parse(l);
    assert.ok(json.includes('\u009b'.replace(/./, '\\u009b')));
  });

  it('jsonl: an ASCII batch is written as encoded; DEL, C1 and bidi overrides escaped in any batch', () => {
    const texts = [JSON.stringify({ a: 'plain' }), JSON.stringify({ b: ['x', 'y=1'] })];
    assert.equal(jsonLines(texts).toString(), `${texts.join('\n')}\n`);
    for (const evil of ['del\x7f', 'c1\x9b', 'bidi\u202e', 'mixed é \x7f']) {
      const out = jsonLines([...texts, JSON.stringify({ evil })]).toString();
      assert.ok(!/[\x7f-\x9f\u202e]/.test(out), JSON.stringify(out));
      assert.deepEqual(out.trim().split('\n').map((l) => JSON.parse(l) as unknown), [...texts, JSON.stringify({ evil })].map((t) => JSON.parse(t) as unknown));
    }
  });
});

describe('jsonl lines with a shared argv (its JSON kept)', () => {
  it('are the JSON of spanToJson, byte for byte, and the kept JSON is still neutralised', () => {
    const exporter = new InMemorySpanExporter();
    // Spans as the agent makes them (RecordingSpan keeps its attributes as given; the SDK's Span copies arrays).
    const sink: SpanSink = { resource: resourceFromAttributes({ 'service.name': 'svc' }), instrumentationScope: { name: 't' }, processors: [new SimpleSpanProcessor({ exporter })] };
    const shared = markShared(['cc', '-DNAME="a b"', 'é', '\u202egnp.exe', 'tab\there', '\x1b[2J', 'x'.repeat(300)]);
    const start = (name: string, attributes: Attributes): void => startRecordingSpan(sink, { name, kind: SpanKind.INTERNAL, startTime: [1, 0], attributes }).end([2, 0]);
    start('cc', { 'process.pid': 1, 'process.command_args': shared, 'process.executable.name': 'cc', 'ebpf_otel.x': 1.5 });
    start('cc', { 'process.command_args': shared, 'process.pid': 2, 'process.exit.code': 0, 'ebpf_otel.nan': Number.NaN, 'ebpf_otel.unset': undefined });
    start('ls', { 'process.pid': 3, 'process.command_args': ['ls', '-l'], 'flag': true });
    start('only', { 'process.command_args': shared });
    const failed = startRecordingSpan(sink, { name: 'f"\u2028', kind: SpanKind.CLIENT, startTime: [0, 5], attributes: { 'error.type': 'x"y' } });
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'refused "\x1b"' });
    failed.end([1_700_000_000, 1]);
    const spans = exporter.getFinishedSpans();
    assert.equal(spans[0]?.attributes['process.command_args'], shared);
    for (const span of spans) {
      // The same object; a shared array's key comes last in `attributes`, so the text is compared without it.
      assert.deepEqual(JSON.parse(spanJsonLine(span)), JSON.parse(JSON.stringify(spanToJson(span))));
      if (!isShared(span.attributes['process.command_args'])) assert.equal(spanJsonLine(span), JSON.stringify(spanToJson(span)));
    }
    let json = '';
    new JsonLinesExporter((text) => { json += text; }).export(spans, () => undefined);
    const lines = json.trim().split('\n');
    assert.equal(lines.length, 5);
    const last = JSON.parse(lines[4] as string) as Record<string, unknown>;
    assert.deepEqual([last.startTimeUnixNano, last.endTimeUnixNano], ['5', (1_700_000_000n * 1_000_000_000n + 1n).toString()]);
    assert.deepEqual(last.status, { code: 'ERROR', message: 'refused "\x1b"' });
    assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/.test(json));
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { attributes: Record<string, unknown> }).attributes['process.command_args']), [[...shared], [...shared], ['ls', '-l'], [...shared], undefined]);
  });
});

describe('least privilege and attribution helpers', () => {
  it('keeps CAP_BPF only on kernels before 6.5 that gate bpf() on existing descriptors', () => {
    assert.deepEqual(capabilitiesToKeep('6.18.44-fc', '2').keep, []);
    assert.deepEqual(capabilitiesToKeep('6.5.0', '1').keep, []);
    assert.deepEqual(capabilitiesToKeep('6.1.0-13-amd64', '2').keep, [CAP_BPF]);
    assert.deepEqual(capabilitiesToKeep('5.15.0', '0\n').keep, []);
  });

  it('names terminals from tty_nr as ps does', () => {
    assert.equal(ttyFromDevice((136 << 8) | 3), 'pts/3');
    assert.equal(ttyFromDevice((137 << 8) | 1), 'pts/257');
    assert.equal(ttyFromDevice((136 << 8) | (300 & 0xff) | ((300 & 0xfff00) << 12)), 'pts/300');
    assert.equal(ttyFromDevice((4 << 8) | 1), 'tty1');
    assert.equal(ttyFromDevice((4 << 8) | 65), 'ttyS1');
    assert.equal(ttyFromDevice(0), undefined);
  });
});
