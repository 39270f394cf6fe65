/**
 * Human-readable exporters: `console` prints one aligned line per span (like
 * the classic tcpconnlat/execsnoop tools), `jsonl` one JSON object per span
 * for scripts and jq. Both write to stdout; the agent logs to stderr.
 */
import { SpanStatusCode, type Attributes, type AttributeValue, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { isAscii } from 'node:buffer';
import { isShared } from '../shared-arrays';

/** Text, or UTF-8 bytes already encoded. */
export type Write = (data: string | Uint8Array) => void;
export const stdoutWrite: Write = (data) => {
  process.stdout.write(data);
};

/**
 * Control characters (C0, DEL, C1: what starts a terminal escape sequence)
 * and bidirectional overrides, written as visible \xNN / \u{NNNN} escapes:
 * a local user's argv, comm or line cannot move the cursor, recolour,
 * retitle or reorder the operator's terminal.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
export function neutralize(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

function str(value: AttributeValue | undefined): string {
  if (value === undefined) return '';
  return neutralize(Array.isArray(value) ? value.join(' ') : String(value));
}

function peer(address: AttributeValue | undefined, port: AttributeValue | undefined): string {
  const a = str(address);
  if (!a) return '-';
  return a.includes(':') ? `[${a}]:${str(port)}` : `${a}:${str(port)}`;
}

/** The connect's peer, named by the lookup that gave its address when there was one: `name:443 (93.184.215.14)`. */
function serverPeer(a: Attributes): string {
  const ip = peer(a['network.peer.address'], a['network.peer.port']);
  const server = str(a['server.address']);
  if (!server || server === str(a['network.peer.address'])) return ip;
  return `${server}:${str(a['network.peer.port'])} (${str(a['network.peer.address'])})`;
}

function clockTime(span: ReadableSpan): string {
  const d = new Date(hrTimeToMilliseconds(span.startTime));
  return d.toISOString().slice(11, 23);
}

/** One line for a span; columns depend on what kind of span it is. */
export function formatSpanLine(span: ReadableSpan): string {
  const a = span.attributes;
  const ms = hrTimeToMilliseconds(span.duration);
  const duration = ms >= 1000 ? `${(ms / 1000).toFixed(3)} s` : `${ms.toFixed(3)} ms`;
  const failed = span.status.code === SpanStatusCode.ERROR;
  if (a['network.transport'] === 'tcp') {
    const outcome = str(a['ebpf_otel.tcp.outcome']);
    return [
      clockTime(span),
      'tcp',
      `pid=${str(a['process.pid'])}`.padEnd(12),
      str(a['process.executable.name']).padEnd(16),
      a['network.type'] === 'ipv6' ? '6' : '4',
      `${peer(a['network.local.address'], a['network.local.port'])} -> ${serverPeer(a)}`.padEnd(48),
      duration.padStart(12),
      failed ? `${outcome.toUpperCase()}${a['ebpf_otel.tcp.socket_error'] ? ` (${str(a['ebpf_otel.tcp.socket_error'])})` : ''}` : outcome,
    ].join(' ');
  }
  if (a['dns.question.name'] !== undefined) {
    const answers = a['dns.answers'];
    return [
      clockTime(span),
      'dns',
      `pid=${str(a['process.pid'])}`.padEnd(12),
      str(a['process.executable.name']).padEnd(16),
      `${str(a['dns.question.name'])}${Array.isArray(answers) && answers.length > 0 ? ` -> ${answers.join(' ')}` : ''}`.padEnd(50),
      duration.padStart(12),
      failed ? str(a['error.type']).toUpperCase() : 'ok',
    ].join(' ');
  }
  if (a['process.command_line'] !== undefined && a['process.executable.name'] === undefined) {
    // An interactive command (root of a command trace).
    return [
      clockTime(span),
      'cmd',
      `pid=${str(a['process.pid'])}`.padEnd(12),
      str(a['process.owner'] ?? a['process.user.id']).padEnd(16),
      JSON.stringify(String(a['process.command_line'])).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).padEnd(48),
      duration.padStart(12),
      a['process.exit.code'] !== undefined ? `exit=${str(a['process.exit.code'])}` : '',
    ].join(' ');
  }
  if (a['process.pid'] !== undefined) {
    const args = a['process.command_args'];
    return [
      clockTime(span),
      'proc',
      `pid=${str(a['process.pid'])}`.padEnd(12),
      `ppid=${str(a['process.parent_pid'])}`.padEnd(16),
      (Array.isArray(args) ? str(args) : str(a['process.executable.path'] ?? span.name)).padEnd(48),
      duration.padStart(12),
      a['process.exit.code'] !== undefined ? `exit=${str(a['process.exit.code'])}` : '',
    ].join(' ');
  }
  return [clockTime(span), neutralize(span.name), duration, failed ? `ERROR ${neutralize(span.status.message ?? '')}` : ''].join(' ');
}

export const CONSOLE_HEADER = `${'TIME'.padEnd(12)} KIND ${'PID'.padEnd(12)} ${'COMM/USER'.padEnd(16)} ${'WHAT'.padEnd(50)} ${'DURATION'.padStart(12)} RESULT\n`;

export class ConsoleLineExporter implements SpanExporter {
  private headerShown = false;
  constructor(private readonly write: Write = stdoutWrite) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    let out = '';
    if (!this.headerShown) {
      out += CONSOLE_HEADER;
      this.headerShown = true;
    }
    for (const span of [...spans].sort((x, y) => hrTimeToMilliseconds(x.startTime) - hrTimeToMilliseconds(y.startTime))) {
      out += `${formatSpanLine(span).trimEnd()}\n`;
    }
    this.write(out);
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
}

function statusName(code: SpanStatusCode): 'ERROR' | 'OK' | 'UNSET' {
  return code === SpanStatusCode.ERROR ? 'ERROR' : code === SpanStatusCode.OK ? 'OK' : 'UNSET';
}

/** The JSON form of a span (one line of the jsonl exporter). */
export function spanToJson(span: ReadableSpan): Record<string, unknown> {
  const ctx = span.spanContext();
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: span.kind,
    startTime: new Date(hrTimeToMilliseconds(span.startTime)).toISOString(),
    startTimeUnixNano: unixNanos(span.startTime),
    endTimeUnixNano: unixNanos(span.endTime),
    durationMs: hrTimeToMilliseconds(span.duration),
    status: { code: statusName(span.status.code), message: span.status.message },
    attributes: span.attributes,
    // Who the span is about (service.name, container.id, k8s.pod.uid, host): one resource per workload.
    resource: span.resource.attributes,
  };
}

/**
 * The JSON of shared array attribute values (shared-arrays.ts): such an array never changes, and is
 * shared by many spans (a repeated command line's redacted argv, CommandTracer), so its escaping
 * (2.5–3.5 µs for a 4 KiB argv) is done once. Weak: an entry goes with its array.
 */
const sharedArrayJson = new WeakMap<readonly unknown[], string>();
/** The JSON of resource attributes, by resource: one per workload, the same for all its spans. */
const resourceJson = new WeakMap<ReadableSpan['resource'], string>();

function hasSharedArray(attributes: Attributes): boolean {
  for (const key in attributes) if (isShared(attributes[key])) return true;
  return false;
}

/**
 * A span's attributes as JSON: the shared arrays' JSON from sharedArrayJson, after the other
 * attributes (JSON.stringify of those in one call: per-key calls cost more than they save).
 */
function attributesJson(attributes: Attributes): string {
  if (!hasSharedArray(attributes)) return JSON.stringify(attributes);
  // Built key by key: `delete` on a copy would turn it into a dictionary, slower to stringify.
  const rest: Attributes = {};
  let arrays = '';
  for (const key in attributes) {
    const value = attributes[key];
    if (!isShared(value)) {
      rest[key] = value;
      continue;
    }
    let json = sharedArrayJson.get(value);
    if (json === undefined) {
      json = JSON.stringify(value);
      sharedArrayJson.set(value, json);
    }
    arrays += `,${JSON.stringify(key)}:${json}`;
  }
  const others = JSON.stringify(rest);
  return others === '{}' ? `{${arrays.slice(1)}}` : `${others.slice(0, -1)}${arrays}}`;
}

/**
 * One line of the jsonl exporter: spanToJson(span) as JSON, written out field by field (every
 * string through JSON.stringify) so that the resource's JSON (the same for all spans of a
 * workload) and a shared argv's JSON are made once. Shared array attributes come last in
 * `attributes`; otherwise the text is JSON.stringify(spanToJson(span)).
 */
export function spanJsonLine(span: ReadableSpan): string {
  const ctx = span.spanContext();
  const parent = span.parentSpanContext?.spanId;
  const { code, message } = span.status;
  const status = `{"code":"${statusName(code)}"${message === undefined ? '' : `,"message":${JSON.stringify(message)}`}}`;
  let resource = resourceJson.get(span.resource);
  if (resource === undefined) {
    resource = JSON.stringify(span.resource.attributes);
    // Kept once settled: a detector's attributes may still be on their way.
    if (span.resource.asyncAttributesPending !== true) resourceJson.set(span.resource, resource);
  }
  return `{"traceId":${JSON.stringify(ctx.traceId)},"spanId":${JSON.stringify(ctx.spanId)}${parent === undefined ? '' : `,"parentSpanId":${JSON.stringify(parent)}`},` +
    `"name":${JSON.stringify(span.name)},"kind":${JSON.stringify(span.kind)},"startTime":${JSON.stringify(new Date(hrTimeToMilliseconds(span.startTime)).toISOString())},` +
    `"startTimeUnixNano":"${unixNanos(span.startTime)}","endTimeUnixNano":"${unixNanos(span.endTime)}","durationMs":${JSON.stringify(hrTimeToMilliseconds(span.duration))},` +
    `"status":${status},"attributes":${attributesJson(span.attributes)},"resource":${resource}}`;
}

/** An HrTime as decimal nanoseconds since the epoch (what BigInt arithmetic gives, without it). */
function unixNanos([seconds, nanos]: HrTime): string {
  return seconds === 0 ? String(nanos) : `${seconds}${String(nanos).padStart(9, '0')}`;
}

/** JSON escapes C0 controls itself; C1 controls and bidi overrides too, as \uNNNN (still valid JSON). */
export function neutralizeJson(json: string): string {
  return json.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * JSON texts as UTF-8 lines, each neutralized (neutralizeJson), in one buffer. What neutralizeJson
 * rewrites is never ASCII but for DEL (JSON.stringify escapes C0 itself): a batch that is ASCII
 * without DEL, nearly every one, is written as encoded, after one SIMD check of its bytes instead
 * of a regular-expression scan per line (2–3 µs for a span with a 4 KiB argv), and without
 * joining the lines into one string first.
 */
export function jsonLines(texts: readonly string[]): Buffer {
  let size = 0;
  for (const text of texts) size += Buffer.byteLength(text) + 1;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const text of texts) {
    at += out.write(text, at);
    out[at++] = 0x0a;
  }
  if (isAscii(out) && out.indexOf(0x7f) < 0) return out;
  return Buffer.from(texts.map((text) => `${neutralizeJson(text)}\n`).join(''));
}

export class JsonLinesExporter implements SpanExporter {
  constructor(private readonly write: Write = stdoutWrite) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.write(jsonLines(spans.map(spanJsonLine)));
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
}
