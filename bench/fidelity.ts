/**
 * Fidelity under load: during a connect storm, does the agent see every
 * connect of the storm, with its latency intact? The reference is an
 * independent probe on the same tracepoint, bpftrace (Debian's bpftrace,
 * classic tracepoint sock:inet_sock_set_state, keyed by socket address,
 * CLOSE->SYN_SENT to the next transition, `nsecs`). Both sides count the
 * storm's connects (comm connect_storm) into 0.1 µs latency buckets; the agent
 * side is read from its jsonl spans (end - start in ns, as exported).
 * tcpstates is not a timing reference: its perf-buffer wake-ups run inside
 * the traced path (seen off by 5 µs median, up to 43 µs).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitUntilIdle } from './proc';
import { startWatcher, type AgentSummary, type WatcherSpec } from './watchers';

const STORM_COMM = 'connect_storm';

const BPFTRACE_SCRIPT = `
tracepoint:sock:inet_sock_set_state
/args->protocol == 6 && args->oldstate == 7 && args->newstate == 2 && comm == "${STORM_COMM}"/
{ @start[args->skaddr] = nsecs; }
tracepoint:sock:inet_sock_set_state
/args->protocol == 6 && args->oldstate == 2 && @start[args->skaddr] != 0/
{ @us[(nsecs - @start[args->skaddr]) / 100] = count(); @n = count(); delete(@start[args->skaddr]); }
END { clear(@start); }
`;

export interface LatencyDistribution {
  count: number;
  /** Connects per 100 ns of latency (key: latency / 100 ns). */
  buckets: Map<number, number>;
}

export interface FidelityResult {
  stormConnects: number;
  stormPerSecond: number;
  reference: LatencyDistribution;
  agent: LatencyDistribution;
  agentSummary: AgentSummary | undefined;
  /** Largest difference of the p50, p90 and p99 latencies, µs. */
  maxQuantileDiffUs: number;
}

/** The q-quantile latency in µs (0.1 µs resolution). */
export function quantileUs(d: LatencyDistribution, q: number): number {
  const keys = [...d.buckets.keys()].sort((a, b) => a - b);
  let seen = 0;
  for (const k of keys) {
    seen += d.buckets.get(k) ?? 0;
    if (seen >= q * d.count) return k / 10;
  }
  return (keys[keys.length - 1] ?? 0) / 10;
}

function parseBpftrace(out: string): LatencyDistribution {
  const buckets = new Map<number, number>();
  let count = 0;
  for (const m of out.matchAll(/^@us\[(\d+)\]: (\d+)$/gm)) buckets.set(Number(m[1]), Number(m[2]));
  const n = /^@n: (\d+)$/m.exec(out);
  if (n?.[1]) count = Number(n[1]);
  return { count, buckets };
}

function parseAgentSpans(file: string): LatencyDistribution {
  const buckets = new Map<number, number>();
  let count = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes(STORM_COMM) || !line.startsWith('{"traceId"')) continue; // spans only, not metric lines
    const span = JSON.parse(line) as { name: string; startTimeUnixNano: string; endTimeUnixNano: string; attributes: Record<string, unknown> };
    if (span.name !== 'tcp connect') continue;
    const us = Number((BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)) / 100n);
    buckets.set(us, (buckets.get(us) ?? 0) + 1);
    count++;
  }
  return { count, buckets };
}

export async function measureFidelity(
  agent: WatcherSpec,
  runStorm: () => Promise<{ units: number; perSecond: number }>,
): Promise<FidelityResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ebpf-otel-fidelity-'));
  const spansFile = path.join(dir, 'spans.jsonl');
  const bpftrace = spawn('bpftrace', ['-e', BPFTRACE_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  bpftrace.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  bpftrace.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => bpftrace.once('exit', resolve));
  try {
    // bpftrace says "Attaching N probes..." once they are in place.
    const deadline = Date.now() + 60_000;
    while (!/Attaching \d+ probe/.test(out)) {
      if (bpftrace.exitCode !== null || Date.now() > deadline) throw new Error(`bpftrace did not attach: ${err.trim() || out.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const watcher = await startWatcher(agent, spansFile);
    const storm = await runStorm();
    await waitUntilIdle(watcher.pid, 20_000);
    const exit = await watcher.stop();
    bpftrace.kill('SIGINT');
    await exited;
    const reference = parseBpftrace(out);
    const agentSide = parseAgentSpans(spansFile);
    const diffs = [0.5, 0.9, 0.99].map((q) => Math.abs(quantileUs(reference, q) - quantileUs(agentSide, q)));
    return {
      stormConnects: storm.units,
      stormPerSecond: storm.perSecond,
      reference,
      agent: agentSide,
      agentSummary: exit.summary,
      maxQuantileDiffUs: Math.max(...diffs),
    };
  } finally {
    if (bpftrace.exitCode === null) bpftrace.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
