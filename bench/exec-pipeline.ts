/**
 * The exec span pipeline alone (no kernel, no root): fork, exec and exit records laid out as
 * bpf/proc.h does, delivered in batches every 10 ms at the exec storm's rate, through what the
 * agent runs on them: decodeEvent, the reorder window, CommandTracer with redaction
 * (`--trace-execs all`), the SDK with the agent's span limits, the sampling gate
 * (`--max-spans-per-second 0`), the batch processor and RetryingSpanExporter, and the jsonl
 * exporter writing to /dev/null. Reports this process's CPU (user + system, GC threads included)
 * per 1,000 execs with the exec storm's short argv (`/bin/true`) and its 4,000-byte argv
 * (bench/exec_storm.c, cut at 4 KiB as the kernel does), median and spread over interleaved
 * rounds. It isolates the user-space part of the long-argv benchmark (bench/RESULTS.md) from
 * the kernel, the ring buffer and other processes' load, which make the full benchmark noisy on
 * a shared machine.
 *
 *   node dist/bench/exec-pipeline.js [--rounds 7] [--execs 5000] [--rate 1700] [--no-redact] [--varied] [--only short|long]
 *
 * --varied: the long argv's first argument ends with the exec's number in hex, as `exec_storm … vary`
 * does, so no exec repeats another's argv.
 *
 * Run it with the agent's Node flags (--max-semi-space-size=4 --no-allocation-site-pretenuring) to
 * see the agent's garbage collection. Sample output (2 CPUs shared with other engineers'
 * benchmarks, so the spread is wide):
 *   short argv       30.7 ms per 1,000 execs, median (26.9 – 45.3) over 7 rounds of 3000 execs
 *   4,000-byte argv  68.5 ms per 1,000 execs, median (58.6 – 87.3) over 7 rounds of 3000 execs
 *   long / short     2.04 (median of the rounds' ratios; 1.67 – 3.06)
 * (7f22bc0's code under this replay, same machine and hour: 87.0 ms with long argv, 38.6 short).
 */
import { openSync, writeSync } from 'node:fs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { KernelClock } from '../receiver/src/clock';
import { createRedactor } from '../receiver/src/commands/redact';
import { CommandTracer } from '../receiver/src/commands/tracer';
import { decodeEvent, peekEventTime } from '../receiver/src/decode/index';
import { EventType } from '../receiver/src/decode/layout';
import { PROC_ARGS_MAX_BYTES, PROC_EXEC_LAYOUT, PROC_EXIT_LAYOUT, PROC_FORK_LAYOUT, ProcExecFlag } from '../receiver/src/decode/proc';
import { JsonLinesExporter } from '../receiver/src/export/console';
import type { SpanSink } from '../receiver/src/export/finished-span';
import { batchOptionsFor, batchProcessor, RetryingSpanExporter } from '../receiver/src/export/span-pipeline';
import { createLogger } from '../receiver/src/log';
import { ReorderBuffer } from '../receiver/src/reorder';
import { GatedSpanProcessor, SpanGate } from '../receiver/src/sampling';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} takes a positive number`);
  return v;
}

const ROUNDS = arg('rounds', 7);
const EXECS = arg('execs', 5000);
const RATE = arg('rate', 1700);
const REDACT = !process.argv.includes('--no-redact');
const VARIED = process.argv.includes('--varied');
/** `--only short` or `--only long`: one variant, for a profile (--cpu-prof, --trace-gc) of it alone. */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (ONLY !== undefined && ONLY !== 'short' && ONLY !== 'long') throw new Error('--only takes short or long');
const TICK_MS = 10;
/** The agent's (receiver/src/agent.ts). */
const REORDER_WINDOW_NS = 250_000_000n;

/** bench/exec_storm.c's argv for ARGV_BYTES (0: the program alone). */
export function execStormArgv(argvBytes: number): string[] {
  const shapes = ['--password=', '-H', 'Authorization: Bearer ', 'DB_PASSWORD=', '--token=', 'user:', '--from-literal=api_key=', '-Djavax.net.ssl.keyStorePassword='];
  const argv = ['/bin/true'];
  if (argvBytes === 0) return argv;
  const each = Math.floor(argvBytes / 64);
  for (let i = 0; i < 64; i++) argv.push(shapes[i % shapes.length] + 's3cr3tQz'.repeat(Math.ceil(each / 8)).slice(0, each));
  return argv;
}

/** The three records one storm iteration makes, with its pid and times filled in per use. */
class ExecRecords {
  private readonly exec: Buffer;
  private readonly fork = Buffer.alloc(PROC_FORK_LAYOUT.size);
  private readonly exit = Buffer.alloc(PROC_EXIT_LAYOUT.size);
  /** Where the first argument's last 8 characters sit in the exec record, when each exec varies them. */
  private readonly varyAt: number | undefined;

  constructor(argv: readonly string[], vary: boolean) {
    const whole = Buffer.from(`${argv.join('\0')}\0`);
    const block = whole.subarray(0, PROC_ARGS_MAX_BYTES);
    const X = PROC_EXEC_LAYOUT.fields;
    this.exec = Buffer.alloc(X.args.offset + block.length);
    this.exec.writeUInt32LE(EventType.ProcExec, X.type.offset);
    this.exec.writeUInt32LE(whole.length > block.length ? ProcExecFlag.ArgsTruncated : 0, X.flags.offset);
    this.exec.writeInt32LE(argv.length, X.argc.offset);
    this.exec.writeUInt32LE(block.length, X.args_size.offset);
    this.exec.writeUInt32LE(whole.length, X.args_size_total.offset);
    this.exec.write('true', X.comm.offset);
    this.exec.write('/bin/true', X.filename.offset);
    block.copy(this.exec, X.args.offset);
    this.varyAt = vary && argv.length > 1 ? X.args.offset + (argv[0] as string).length + 1 + (argv[1] as string).length - 8 : undefined;
    this.fork.writeUInt32LE(EventType.ProcFork, PROC_FORK_LAYOUT.fields.type.offset);
    this.fork.write('exec_storm', PROC_FORK_LAYOUT.fields.comm.offset);
    this.exit.writeUInt32LE(EventType.ProcExit, PROC_EXIT_LAYOUT.fields.type.offset);
    this.exit.write('true', PROC_EXIT_LAYOUT.fields.comm.offset);
  }

  /** Appends the iteration's fork, exec and exit, framed as the addon frames a batch (u32 length, record). */
  writeTo(batch: Buffer, offset: number, pid: number, startNs: bigint): number {
    const K = PROC_FORK_LAYOUT.fields;
    this.fork.writeBigUInt64LE(startNs, K.timestamp_ns.offset);
    this.fork.writeUInt32LE(pid, K.pid.offset);
    this.fork.writeUInt32LE(1000, K.ppid.offset);
    const X = PROC_EXEC_LAYOUT.fields;
    this.exec.writeBigUInt64LE(startNs + 200_000n, X.timestamp_ns.offset);
    this.exec.writeBigUInt64LE(startNs, X.start_ns.offset);
    for (const field of [X.pid, X.tid, X.old_tid]) this.exec.writeUInt32LE(pid, field.offset);
    if (this.varyAt !== undefined) this.exec.write((pid >>> 0).toString(16).padStart(8, '0'), this.varyAt, 'latin1');
    this.exec.writeUInt32LE(1000, X.ppid.offset);
    const E = PROC_EXIT_LAYOUT.fields;
    this.exit.writeBigUInt64LE(startNs + 400_000n, E.timestamp_ns.offset);
    this.exit.writeBigUInt64LE(startNs, E.start_ns.offset);
    this.exit.writeUInt32LE(pid, E.pid.offset);
    this.exit.writeUInt32LE(pid, E.tid.offset);
    this.exit.writeUInt32LE(1000, E.ppid.offset);
    let at = offset;
    for (const record of [this.fork, this.exec, this.exit]) {
      batch.writeUInt32LE(record.length, at);
      record.copy(batch, at + 4);
      at += 4 + record.length;
    }
    return at;
  }

  get bytes(): number {
    return 12 + this.fork.length + this.exec.length + this.exit.length;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function round(argv: readonly string[], vary: boolean, devNull: number): Promise<number> {
  const exporter = new RetryingSpanExporter(new JsonLinesExporter((data) => { writeSync(devNull, typeof data === 'string' ? Buffer.from(data) : data); }), {
    name: 'jsonl',
    maxBufferedSpans: 20_000,
    maxBatchSize: 256,
    initialBackoffMs: 1000,
    maxBackoffMs: 30_000,
    exportTimeoutMs: 10_000,
    shutdownTimeoutMs: 1000,
    log: createLogger('error'),
    onDropped: () => undefined,
    onExported: () => undefined,
  });
  const gate = new SpanGate({ successRatio: 1, slowThresholdNs: 100_000_000n, maxPerSecond: 0 });
  const processor = new GatedSpanProcessor(gate, [batchProcessor(exporter, batchOptionsFor('jsonl'))], () => undefined);
  const resource = resourceFromAttributes({ 'service.name': 'true' });
  const provider = new TracerProvider({
    resource,
    spanProcessors: [processor],
    spanLimits: { attributeCountLimit: 64, attributeValueLengthLimit: 16_384, eventCountLimit: 16, linkCountLimit: 4 },
  });
  const clock = new KernelClock(() => ({ realtimeNs: BigInt(Date.now()) * 1_000_000n, monotonicNs: process.hrtime.bigint() }));
  // As the agent's WorkloadTracers: a tracer, and the sink its spans go to (one workload here).
  const tracer = provider.getTracer('ebpf-otel', 'bench');
  const sink: SpanSink = { resource, instrumentationScope: { name: 'ebpf-otel', version: 'bench' }, processors: [processor] };
  const commands = new CommandTracer({ tracerFor: () => tracer, sinkFor: () => sink }, clock, { traceExecs: 'all', redactor: createRedactor(REDACT) });
  const reorder = new ReorderBuffer(REORDER_WINDOW_NS, (err) => { throw err; });
  // As the agent does (receiver/src/agent.ts onRecord): records wait in the reorder window as
  // bytes and are decoded when released, in kernel time order.
  const onOrderedRecord = (record: Buffer): void => {
    const event = decodeEvent(record);
    if (event.kind === 'proc_exec') commands.onExec(event);
    else if (event.kind === 'proc_fork') commands.onFork(event);
    else if (event.kind === 'proc_exit') commands.onExit(event);
  };
  const onRecord = (record: Buffer): void => reorder.pushRecord(record, peekEventTime(record).timeOffset, onOrderedRecord);
  const records = new ExecRecords(argv, vary);
  const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
  const before = process.cpuUsage();
  let pid = 100_000;
  for (let sent = 0; sent < EXECS; sent += perTick) {
    const n = Math.min(perTick, EXECS - sent);
    // A fresh buffer per batch, as the addon hands over.
    const batch = Buffer.allocUnsafe(n * records.bytes);
    const now = process.hrtime.bigint();
    let end = 0;
    for (let i = 0; i < n; i++) end = records.writeTo(batch, end, pid++, now + BigInt(i) * 1000n);
    for (let at = 0; at < end;) {
      const length = batch.readUInt32LE(at);
      onRecord(batch.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    await sleep(TICK_MS);
  }
  // Everything out of the reorder window and the batch processor, written.
  await sleep(Number(REORDER_WINDOW_NS / 1_000_000n) + 50);
  reorder.flush();
  await provider.forceFlush();
  const used = process.cpuUsage(before);
  reorder.close();
  await provider.shutdown();
  await exporter.shutdown();
  return (used.user + used.system) / EXECS; // µs per exec = ms per 1,000 execs
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const devNull = openSync('/dev/null', 'w');
  const variants = [
    { name: 'short argv', argv: execStormArgv(0) },
    { name: VARIED ? '4,000 B, varied' : '4,000-byte argv', argv: execStormArgv(4000) },
  ].filter((_, i) => ONLY === undefined || ONLY === (i === 0 ? 'short' : 'long'));
  // Warm-up: JIT and heap sizing, not counted.
  const vary = (i: number): boolean => VARIED && variants[i]?.argv.length !== 1;
  for (let i = 0; i < variants.length; i++) await round((variants[i] as { argv: string[] }).argv, vary(i), devNull);
  const results = variants.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order so neither variant always runs on a warmer heap.
    const order = variants.length < 2 ? [0] : r % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) (results[i] as number[]).push(await round((variants[i] as { argv: string[] }).argv, vary(i), devNull));
  }
  const line = (name: string, values: readonly number[]): string =>
    `${name.padEnd(16)} ${median(values).toFixed(1)} ms per 1,000 execs, median (${Math.min(...values).toFixed(1)} – ${Math.max(...values).toFixed(1)}) over ${ROUNDS} rounds of ${EXECS} execs\n`;
  variants.forEach((v, i) => process.stdout.write(line(v.name, results[i] as number[])));
  if (variants.length < 2) return;
  const ratios = (results[1] as number[]).map((long, i) => long / ((results[0] as number[])[i] as number));
  process.stdout.write(`long / short     ${median(ratios).toFixed(2)} (median of the rounds' ratios; ${Math.min(...ratios).toFixed(2)} – ${Math.max(...ratios).toFixed(2)})${REDACT ? '' : ', redaction off'}\n`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
