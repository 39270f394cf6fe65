import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { hrTimeToNanoseconds } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { KernelClock } from '../receiver/src/clock';
import { decodeTcpConnect, TcpOutcome, AF_INET6 } from '../receiver/src/decode/tcp-connect';
import { formatSpanLine, spanToJson } from '../receiver/src/export/console';
import type { SpanSink } from '../receiver/src/export/finished-span';
import { TcpConnectSpanBuilder } from '../receiver/src/tcp/spans';
import { tcpRecord } from './helpers/event-builder';

function setup() {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  // wall = monotonic + 1_700_000_000 s
  const clock = new KernelClock(() => ({ realtimeNs: 1_700_000_000_000_000_000n + 5n, monotonicNs: 5n }));
  const builder = new TcpConnectSpanBuilder(provider.getTracer('t'), clock);
  return { exporter, builder };
}

describe('tcp connect spans', () => {
  it('a successful connect: CLIENT span, kernel timestamps, semconv attributes', () => {
    const { exporter, builder } = setup();
    builder.emit(decodeTcpConnect(tcpRecord({ start: 1_000_000_000n, end: 1_250_000_000n, pid: 77, tid: 78, uid: 1000, saddr: '127.0.0.1', daddr: '127.0.0.2', sport: 40001, dport: 8080, comm: 'curl' })));
    const [span] = exporter.getFinishedSpans();
    assert.ok(span);
    assert.equal(span.name, 'tcp connect');
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.equal(hrTimeToNanoseconds(span.startTime), 1_700_000_001_000_000_000);
    assert.equal(hrTimeToNanoseconds(span.duration), 250_000_000);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(
      {
        t: span.attributes['network.transport'], ty: span.attributes['network.type'], pa: span.attributes['network.peer.address'],
        pp: span.attributes['network.peer.port'], la: span.attributes['network.local.address'], lp: span.attributes['network.local.port'],
        sa: span.attributes['server.address'], sp: span.attributes['server.port'], pid: span.attributes['process.pid'],
        tid: span.attributes['thread.id'], exe: span.attributes['process.executable.name'], uid: span.attributes['process.user.id'],
        err: span.attributes['error.type'],
      },
      { t: 'tcp', ty: 'ipv4', pa: '127.0.0.2', pp: 8080, la: '127.0.0.1', lp: 40001, sa: '127.0.0.2', sp: 8080, pid: 77, tid: 78, exe: 'curl', uid: 1000, err: undefined },
    );
  });

  const failures: Array<[number, number, string]> = [
    [TcpOutcome.Refused, 111, 'connection_refused'],
    [TcpOutcome.TimedOut, 110, 'timed_out'],
    [TcpOutcome.HostUnreachable, 113, 'host_unreachable'],
    [TcpOutcome.NetworkUnreachable, 101, 'network_unreachable'],
    [TcpOutcome.Abandoned, 0, 'connection_abandoned'],
    [TcpOutcome.OtherError, 104, '_OTHER'],
  ];
  for (const [outcome, err, errorType] of failures) {
    it(`a failed connect (${errorType}) has status ERROR and error.type`, () => {
      const { exporter, builder } = setup();
      builder.emit(decodeTcpConnect(tcpRecord({ family: AF_INET6, saddr: '::1', daddr: '::1', outcome, err })));
      const [span] = exporter.getFinishedSpans();
      assert.equal(span?.status.code, SpanStatusCode.ERROR);
      assert.equal(span?.attributes['error.type'], errorType);
      assert.ok(span?.status.message?.includes('[::1]:80'));
      if (err) assert.match(String(span?.attributes['ebpf_otel.tcp.socket_error']), /^E[A-Z]+$/);
      assert.match(formatSpanLine(span as ReadableSpan), /\[::1\]:80/);
      assert.equal((spanToJson(span as ReadableSpan).status as { code: string }).code, 'ERROR');
    });
  }
});

describe('tcp connect spans handed over finished (export/finished-span.ts)', () => {
  /** The same builder over an SDK tracer and over a sink with the provider's resource and processor. */
  function both() {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    const resource = resourceFromAttributes({ 'service.name': 'svc' });
    const provider = new TracerProvider({ resource, spanProcessors: [processor] });
    const tracer = provider.getTracer('ebpf-otel', '1.2.3');
    const clock = new KernelClock(() => ({ realtimeNs: 1_700_000_000_000_000_000n + 5n, monotonicNs: 5n }));
    const sink: SpanSink = { resource, instrumentationScope: { name: 'ebpf-otel', version: '1.2.3' }, processors: [processor] };
    const viaSdk = new TcpConnectSpanBuilder(tracer, clock);
    const finished = new TcpConnectSpanBuilder({ tracerFor: () => tracer, sinkFor: () => sink }, clock);
    return { exporter, tracer, viaSdk, finished };
  }

  /** What an exporter reads of a span, ids left out (random). */
  function view(span: ReadableSpan) {
    return {
      name: span.name, kind: span.kind, startTime: span.startTime, endTime: span.endTime, duration: span.duration,
      status: span.status, attributes: span.attributes, links: span.links, events: span.events, ended: span.ended,
      resource: span.resource.attributes, scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version },
      dropped: [span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount],
      traceFlags: span.spanContext().traceFlags, parentSpanId: span.parentSpanContext?.spanId,
    };
  }

  const events: Array<[string, Buffer]> = [
    ['established', tcpRecord({ start: 1_000_000_000n, end: 1_250_000_000n, pid: 77, tid: 78, uid: 1000, saddr: '127.0.0.1', daddr: '127.0.0.2', sport: 40001, dport: 8080, comm: 'curl' })],
    ['refused', tcpRecord({ family: AF_INET6, saddr: '::1', daddr: '::1', outcome: TcpOutcome.Refused, err: 111 })],
    ['end before start', tcpRecord({ start: 2_000_000_000n, end: 1_000_000_000n })],
  ];
  for (const [what, record] of events) {
    it(`${what}: the same span as through the SDK tracer`, () => {
      const { exporter, viaSdk, finished } = both();
      viaSdk.emit(decodeTcpConnect(record));
      finished.emit(decodeTcpConnect(record));
      const [a, b] = exporter.getFinishedSpans();
      assert.ok(a && b);
      assert.deepEqual(view(b), view(a));
      assert.match(b.spanContext().traceId, /^[0-9a-f]{32}$/);
      assert.match(b.spanContext().spanId, /^[0-9a-f]{16}$/);
      assert.notEqual(b.spanContext().spanId, a.spanContext().spanId);
      assert.equal(formatSpanLine(b).replace(/[0-9a-f]{16,32}/g, 'ID'), formatSpanLine(a).replace(/[0-9a-f]{16,32}/g, 'ID'));
    });
  }

  it('under a sampled parent: its trace, the parent\'s span id; under an unsampled parent: no span', () => {
    const { exporter, tracer, finished } = both();
    const parent = tracer.startSpan('bash');
    finished.emit(decodeTcpConnect(tcpRecord({})), trace.setSpan(ROOT_CONTEXT, parent));
    const [child] = exporter.getFinishedSpans();
    assert.equal(child?.spanContext().traceId, parent.spanContext().traceId);
    assert.equal(child?.parentSpanContext?.spanId, parent.spanContext().spanId);
    const unsampled = trace.wrapSpanContext({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: TraceFlags.NONE });
    finished.emit(decodeTcpConnect(tcpRecord({})), trace.setSpan(ROOT_CONTEXT, unsampled));
    assert.equal(exporter.getFinishedSpans().length, 1);
  });
});
