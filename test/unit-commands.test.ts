/**
 * The command tracer on synthetic event sequences (the real kernel side is
 * covered by commands.test.ts): span tree shape, exit codes, odd orders.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { KernelClock } from '../receiver/src/clock';
import { BoundedNames, OTHER } from '../receiver/src/commands/metrics';
import { createRedactor, type Redactor } from '../receiver/src/commands/redact';
import { markShared } from '../receiver/src/shared-arrays';
import { CommandTracer, commandName, NOT_RUN } from '../receiver/src/commands/tracer';
import { startRecordingSpan, type SpanSink } from '../receiver/src/export/finished-span';
import type { BashPromptEvent, BashReadlineEvent } from '../receiver/src/decode/bash';
import type { ProcExecEvent, ProcExitEvent, ProcForkEvent } from '../receiver/src/decode/proc';
import { ReorderBuffer } from '../receiver/src/reorder';
import type { TraceExecsMode } from '../receiver/src/config';

const base = { cgroupId: 1n, uid: 0, gid: 0, tid: 0 };
const line = (pid: number, ts: bigint, text: string, commandLine = 0): BashReadlineEvent => ({
  kind: 'bash_readline', ...base, pid, tid: pid, timestampNs: ts, comm: 'bash', line: text, lineLength: text.length,
  truncated: false, lengthKnown: true, eof: false, unreadable: false, fromReturn: false, commandLine,
});
const prompt = (pid: number, ts: bigint, commandLine = 0): BashPromptEvent => ({ kind: 'bash_prompt', ...base, pid, tid: pid, timestampNs: ts, comm: 'bash', commandLine });
/** Start time by pid, as the kernel reports it: the fork's timestamp is the exec's and exit's startNs. */
const started = new Map<number, bigint>();
const fork = (pid: number, ppid: number, ts: bigint): ProcForkEvent => {
  started.set(pid, ts);
  return { kind: 'proc_fork', ...base, pid, ppid, parentTid: ppid, timestampNs: ts, comm: 'bash' };
};
const exec = (pid: number, ppid: number, ts: bigint, file: string, args: string[]): ProcExecEvent => ({
  kind: 'proc_exec', ...base, pid, tid: pid, ppid, oldTid: pid, timestampNs: ts, startNs: started.get(pid) ?? started.set(pid, ts).get(pid) ?? ts, sessionId: 0, tty: 'pts/0', comm: file.split('/').pop() ?? '',
  filename: file, filenameTruncated: false, argc: args.length, args, argsText: args.join('\0'), argsTruncated: false, argsUnreadable: false, argsSizeTotal: 0,
});
const exit = (pid: number, ppid: number, ts: bigint, code: number, signal?: number): ProcExitEvent => ({
  kind: 'proc_exit', ...base, pid, tid: pid, ppid, timestampNs: ts, startNs: started.get(pid) ?? 0n, durationNs: ts, comm: 'x', waitStatus: signal ?? code << 8,
  termination: signal ? { kind: 'signaled', signal, coreDumped: false } : { kind: 'exited', code },
});

function setup(traceExecs: TraceExecsMode = 'interactive') {
  started.clear();
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const clock = new KernelClock(() => ({ realtimeNs: 1_000_000_000_000n, monotonicNs: 0n }));
  const tracer = new CommandTracer(provider.getTracer('t'), clock, { traceExecs, redactor: createRedactor(true) });
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  const byName = (name: string): ReadableSpan => {
    const s = spans().find((x) => x.name === name);
    assert.ok(s, `span ${name} in ${spans().map((x) => x.name).join(',')}`);
    return s;
  };
  const root = (): ReadableSpan => {
    const s = spans().find((x) => x.parentSpanContext === undefined);
    assert.ok(s, 'a root span');
    return s;
  };
  const child = (name: string): ReadableSpan => {
    const s = spans().find((x) => x.name === name && x.parentSpanContext !== undefined);
    assert.ok(s, `child span ${name}`);
    return s;
  };
  return { tracer, spans, byName, root, child };
}

const MS = 1_000_000n;

describe('command names as metric labels', () => {
  it('keeps the first names, counts later ones as _other, and command_not_run always as itself', () => {
    const names = new BoundedNames(2, new Set([NOT_RUN]));
    assert.deepEqual(['a', 'b', 'c', 'a', NOT_RUN].map((n) => names.map(n)), ['a', 'b', OTHER, 'a', NOT_RUN]);
  });
});

describe('CommandTracer', () => {
  it('a pipeline: root span named after the command, two children, exit code of the last one', () => {
    const { tracer, byName, spans, root: rootSpan, child } = setup();
    tracer.onReadline(line(100, 10n * MS, 'ls /tmp | grep x'));
    tracer.onFork(fork(101, 100, 11n * MS));
    tracer.onFork(fork(102, 100, 12n * MS));
    tracer.onExec(exec(101, 100, 13n * MS, '/usr/bin/ls', ['ls', '/tmp']));
    tracer.onExec(exec(102, 100, 14n * MS, '/usr/bin/grep', ['grep', 'x']));
    tracer.onExit(exit(101, 100, 15n * MS, 0));
    tracer.onExit(exit(102, 100, 16n * MS, 1));
    tracer.onPrompt(prompt(100, 20n * MS));
    const root = rootSpan();
    assert.equal(root.name, 'ls');
    assert.equal(root.attributes['process.command_line'], 'ls /tmp | grep x');
    assert.equal(root.attributes['process.exit.code'], 1);
    assert.equal(root.status.code, SpanStatusCode.ERROR);
    assert.equal(root.parentSpanContext, undefined);
    const grep = byName('grep');
    assert.equal(grep.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(grep.spanContext().traceId, root.spanContext().traceId);
    assert.equal(child('ls').spanContext().traceId, root.spanContext().traceId);
    assert.equal(child('ls').parentSpanContext?.spanId, root.spanContext().spanId);
    assert.deepEqual(grep.attributes['process.command_args'], ['grep', 'x']);
    assert.equal(grep.attributes['process.parent_pid'], 100);
    assert.equal(spans().length, 3);
    // root: 10 ms -> 20 ms
    assert.equal(root.duration[1], 10_000_000);
  });

  it('grandchildren nest under their parent process; connects find their process', () => {
    const { tracer, byName } = setup();
    tracer.onReadline(line(100, 1n * MS, 'make'));
    tracer.onFork(fork(101, 100, 2n * MS));
    tracer.onExec(exec(101, 100, 3n * MS, '/usr/bin/make', ['make']));
    tracer.onFork(fork(102, 101, 4n * MS));
    tracer.onExec(exec(102, 101, 5n * MS, '/usr/bin/cc', ['cc']));
    const ctx = tracer.contextFor(102);
    assert.ok(ctx);
    tracer.onExit(exit(102, 101, 6n * MS, 0));
    assert.ok(tracer.contextFor(102), 'still findable after exit (late connect events)');
    tracer.onExit(exit(101, 100, 7n * MS, 0));
    tracer.onPrompt(prompt(100, 8n * MS));
    assert.equal(byName('cc').parentSpanContext?.spanId, byName('make').spanContext().spanId);
  });

  it('processes outside any traced shell: no spans in interactive mode, spans in all mode', () => {
    const quiet = setup('interactive');
    quiet.tracer.onExec(exec(300, 1, 1n * MS, '/usr/sbin/cron', ['cron']));
    quiet.tracer.onExit(exit(300, 1, 2n * MS, 0));
    assert.equal(quiet.spans().length, 0);
    const all = setup('all');
    all.tracer.onExec(exec(300, 1, 1n * MS, '/usr/sbin/cron', ['cron']));
    all.tracer.onExit(exit(300, 1, 2n * MS, 0));
    all.tracer.onExit(exit(301, 1, 3n * MS, 0, 9));
    const unseen = all.byName('x');
    assert.equal(unseen.attributes['ebpf_otel.process.start_seen'], false);
    assert.equal(unseen.attributes['ebpf_otel.process.signal'], 9);
    assert.equal(unseen.status.code, SpanStatusCode.ERROR);
    assert.equal(all.byName('cron').attributes['process.exit.code'], 0);
  });

  it('empty lines make no span; multi-line commands are one span', () => {
    const { tracer, spans, byName } = setup();
    tracer.onReadline(line(100, 1n * MS, ''));
    tracer.onPrompt(prompt(100, 2n * MS));
    tracer.onReadline(line(100, 3n * MS, 'for i in 1 2; do'));
    tracer.onPrompt(prompt(100, 4n * MS, 1));
    tracer.onReadline(line(100, 5n * MS, 'echo $i', 1));
    tracer.onPrompt(prompt(100, 6n * MS, 2));
    tracer.onReadline(line(100, 7n * MS, 'done', 2));
    tracer.onPrompt(prompt(100, 8n * MS));
    assert.equal(spans().length, 1);
    assert.equal(byName('for').attributes['process.command_line'], 'for i in 1 2; do\necho $i\ndone');
    assert.equal(byName('for').attributes['ebpf_otel.command.line_count'], 3);
  });

  it('secrets are redacted in the line and in process arguments', () => {
    const { tracer, spans } = setup();
    tracer.onReadline(line(100, 1n * MS, 'mysql -p hunter2'));
    tracer.onExec(exec(101, 100, 2n * MS, '/usr/bin/mysql', ['mysql', '-p', 'hunter2']));
    tracer.onExit(exit(101, 100, 3n * MS, 0));
    tracer.onPrompt(prompt(100, 4n * MS));
    assert.doesNotMatch(JSON.stringify(spans().map((s) => s.attributes)), /hunter2/);
  });

  it('out-of-order delivery is put right by the reorder buffer', () => {
    const { tracer, root, child } = setup();
    const reorder = new ReorderBuffer(100n * MS, (e) => { throw e; }, () => 0n, 0);
    // exec and exit arrive before the line that started them
    reorder.push(3n * MS, () => tracer.onExec(exec(101, 100, 3n * MS, '/usr/bin/true', ['true'])));
    reorder.push(4n * MS, () => tracer.onExit(exit(101, 100, 4n * MS, 0)));
    reorder.push(5n * MS, () => tracer.onPrompt(prompt(100, 5n * MS)));
    reorder.push(1n * MS, () => tracer.onReadline(line(100, 1n * MS, 'true')));
    reorder.release(10n * MS);
    assert.equal(child('true').parentSpanContext?.spanId, root().spanContext().spanId);
    assert.equal(root().attributes['process.exit.code'], 0);
  });

  it('processes and shells that vanish without an exit event are ended by the sweep', () => {
    const { tracer, spans } = setup();
    tracer.onReadline(line(100, 1n * MS, 'sleep 100'));
    tracer.onExec(exec(101, 100, 2n * MS, '/usr/bin/sleep', ['sleep', '100']));
    assert.equal(tracer.size.procs, 1);
    tracer.sweep(3n * MS, () => false);
    assert.equal(tracer.size.procs, 0);
    assert.equal(tracer.size.shells, 0);
    const sleepSpan = spans().find((s) => s.parentSpanContext !== undefined);
    assert.equal(sleepSpan?.attributes['ebpf_otel.process.exit_seen'], false);
    assert.equal(spans().length, 2);
  });

  it('interactive mode keeps no state for processes outside traced commands', () => {
    const { tracer } = setup('interactive');
    for (let pid = 1000; pid < 1100; pid++) {
      tracer.onFork(fork(pid, 1, 1n * MS));
      tracer.onExec(exec(pid, 1, 2n * MS, '/bin/true', ['true']));
    }
    assert.equal(tracer.size.procs, 0);
  });

  it('command names skip assignments and paths', () => {
    assert.equal(commandName('FOO=1 BAR=2 /usr/bin/make -j4'), 'make');
    assert.equal(commandName('(cd x && ls)'), 'cd');
    assert.equal(commandName('   '), 'bash');
  });
});

describe('CommandTracer: a repeated argv is redacted once', () => {
  function countingSetup() {
    started.clear();
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const clock = new KernelClock(() => ({ realtimeNs: 1_000_000_000_000n, monotonicNs: 0n }));
    const rules = createRedactor(true);
    const redacted: string[][] = [];
    const redactor: Redactor = { ...rules, args: (args, joined) => { redacted.push([...args]); return rules.args(args, joined); } };
    const tracer = new CommandTracer(provider.getTracer('t'), clock, { traceExecs: 'all', redactor });
    return { tracer, spans: (): ReadableSpan[] => exporter.getFinishedSpans(), redacted };
  }
  const run = (tracer: CommandTracer, pid: number, args: readonly string[]): void => {
    tracer.onFork(fork(pid, 1, BigInt(pid) * MS));
    tracer.onExec({ ...exec(pid, 1, BigInt(pid) * MS + 1n, '/usr/bin/curl', []), args, argsText: args.join('\0'), argc: args.length });
    tracer.onExit(exit(pid, 1, BigInt(pid) * MS + 2n, 0));
  };

  it('the same shared array (decodeArgvBlock) twice: the rules run once, both spans hide the secret', () => {
    const { tracer, spans, redacted } = countingSetup();
    const args = markShared(['curl', '-u', 'bob:hunter2', 'https://example.com']);
    run(tracer, 100, args);
    run(tracer, 101, args);
    // The filename goes through the rules too, on its own.
    assert.equal(redacted.filter((a) => a.length > 1).length, 1);
    const shown = spans().map((s) => s.attributes['process.command_args']);
    assert.equal(shown.length, 2);
    for (const a of shown) assert.deepEqual(a, ['curl', '-u', 'bob:****', 'https://example.com']);
  });

  it('arrays that are not shared (short argv, decoded afresh) are redacted every time', () => {
    const { tracer, redacted } = countingSetup();
    const args = ['curl', '-u', 'bob:hunter2'];
    run(tracer, 100, args);
    run(tracer, 101, args);
    assert.equal(redacted.filter((a) => a.length > 1).length, 2);
  });
});

describe('CommandTracer spans handed to the processors when they end (RecordingSpan)', () => {
  /** The same events through an SDK tracer and through a sink with the provider's resource and processor. */
  function both() {
    started.clear();
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    const resource = resourceFromAttributes({ 'service.name': 'svc' });
    const provider = new TracerProvider({ resource, spanProcessors: [processor] });
    const tracer = provider.getTracer('ebpf-otel', '1.2.3');
    const sink: SpanSink = { resource, instrumentationScope: { name: 'ebpf-otel', version: '1.2.3' }, processors: [processor] };
    const clock = new KernelClock(() => ({ realtimeNs: 1_000_000_000_000n, monotonicNs: 0n }));
    const options = { traceExecs: 'all' as const, redactor: createRedactor(true) };
    return { exporter, viaSdk: new CommandTracer(tracer, clock, options), viaSink: new CommandTracer({ tracerFor: () => tracer, sinkFor: () => sink }, clock, options) };
  }

  /** What an exporter reads of a span, ids replaced by their place in the run (random). */
  function views(spans: readonly ReadableSpan[]) {
    const ids = new Map<string, number>();
    const id = (spanId: string | undefined): number | undefined => (spanId === undefined ? undefined : (ids.get(spanId) ?? ids.set(spanId, ids.size).get(spanId)));
    spans.forEach((s) => id(s.spanContext().spanId));
    return spans.map((span) => ({
      name: span.name, kind: span.kind, startTime: span.startTime, endTime: span.endTime, duration: span.duration,
      status: span.status, attributes: span.attributes, links: span.links, events: span.events, ended: span.ended,
      resource: span.resource.attributes, scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version },
      dropped: [span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount],
      traceFlags: span.spanContext().traceFlags, id: id(span.spanContext().spanId), parent: id(span.parentSpanContext?.spanId),
    }));
  }

  /** Commands, a pipeline, an exec chain, a signal, a subshell, a process whose start was not seen, one evicted by the sweep, one running at shutdown. */
  function run(t: CommandTracer): void {
    t.onReadline(line(100, 10n * MS, 'curl -u bob:hunter2 https://x | grep y'));
    t.onFork(fork(101, 100, 11n * MS));
    t.onFork(fork(102, 100, 12n * MS));
    t.onExec(exec(101, 100, 13n * MS, '/usr/bin/curl', ['curl', '-u', 'bob:hunter2', 'https://x']));
    t.onExec(exec(102, 100, 14n * MS, '/usr/bin/env', ['env', 'grep', 'y']));
    t.onExec(exec(102, 100, 15n * MS, '/usr/bin/grep', ['grep', 'y']));
    t.onExit(exit(101, 100, 16n * MS, 0));
    t.onExit(exit(102, 100, 17n * MS, 0, 9));
    t.onPrompt(prompt(100, 20n * MS));
    t.onReadline(line(100, 21n * MS, '(exit 3)'));
    t.onFork(fork(103, 100, 22n * MS));
    t.onExit(exit(103, 100, 23n * MS, 3));
    t.onPrompt(prompt(100, 24n * MS));
    t.onExit(exit(200, 1, 25n * MS, 0));
    t.onFork(fork(300, 1, 26n * MS));
    t.onExec(exec(300, 1, 27n * MS, '/usr/bin/mysql', ['mysql', '-pS3cret', '--token=x', 'DB_PASSWORD=y']));
    t.sweep(28n * MS, (pid) => pid !== 300);
    t.onFork(fork(400, 1, 29n * MS));
    t.onExec(exec(400, 1, 30n * MS, '/usr/bin/sleep', ['sleep', '9']));
    t.close(31n * MS);
  }

  it('the same spans as through the SDK tracer', () => {
    const { exporter, viaSdk, viaSink } = both();
    run(viaSdk);
    const sdkSpans = exporter.getFinishedSpans();
    exporter.reset();
    run(viaSink);
    const sinkSpans = exporter.getFinishedSpans();
    assert.equal(sinkSpans.length, 9);
    assert.deepEqual(views(sinkSpans), views(sdkSpans));
    assert.deepEqual(sinkSpans.find((s) => s.name === 'mysql')?.attributes['process.command_args'], ['mysql', '-p****', '--token=****', 'DB_PASSWORD=****']);
  });

  it('under an unsampled parent: no span, the parent\'s context carried on', () => {
    const exporter = new InMemorySpanExporter();
    const sink: SpanSink = { resource: resourceFromAttributes({}), instrumentationScope: { name: 't' }, processors: [new SimpleSpanProcessor({ exporter })] };
    const unsampled = trace.wrapSpanContext({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: TraceFlags.NONE });
    const span = startRecordingSpan(sink, { name: 'x', kind: 0, startTime: [1, 0], attributes: {}, parent: trace.setSpan(ROOT_CONTEXT, unsampled) });
    assert.equal(span.isRecording(), false);
    assert.equal(span.spanContext().traceId, '1'.repeat(32));
    span.end([2, 0]);
    assert.equal(exporter.getFinishedSpans().length, 0);
  });

  it('as the SDK span: status rules, nothing changes after end, end before start is a zero duration, events refused', () => {
    const exporter = new InMemorySpanExporter();
    const sink: SpanSink = { resource: resourceFromAttributes({}), instrumentationScope: { name: 't' }, processors: [new SimpleSpanProcessor({ exporter })] };
    const span = startRecordingSpan(sink, { name: 'x', kind: 0, startTime: [5, 0], attributes: { a: 1 } });
    span.setStatus({ code: SpanStatusCode.UNSET });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'bad' });
    assert.throws(() => span.addEvent('e'));
    span.end([4, 0]);
    span.setAttribute('b', 2);
    span.updateName('y');
    span.end([9, 0]);
    const [finished] = exporter.getFinishedSpans();
    assert.equal(exporter.getFinishedSpans().length, 1);
    assert.equal(finished?.name, 'x');
    assert.deepEqual(finished?.attributes, { a: 1 });
    assert.deepEqual(finished?.status, { code: SpanStatusCode.ERROR, message: 'bad' });
    assert.deepEqual(finished?.duration, [0, 0]);
    assert.deepEqual(finished?.endTime, [5, 0]);
  });
});
