/**
 * Benchmarks: how much a storm of TCP connects or of short processes slows
 * down under the agent, what the agent spends (CPU, memory) and whether it
 * loses events, next to Debian's libbpf-tools watching the same storm.
 *
 * Every round runs each variant (no watcher, agent settings, the Debian tool)
 * once, in an order rotated per round, so drift in the machine's speed hits
 * all variants alike; slowdowns are medians of per-round ratios to the
 * same round's unwatched run. Results: bench/RESULTS.md (tables) and
 * build/bench/results.json (every round).
 *
 * Usage (as root, after `bash scripts/bootstrap.sh test`): bash bench/run.sh
 *   [--rounds N] [--connect-seconds S] [--execs N] [--only connect|exec] [--out FILE] [--quiet-wait S]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCollector, type CollectorHandle } from '../test/helpers/backends';
import { enableBpfStats, programIdsOf, programStats, statsDelta, type ProgramStats } from './bpfstats';
import { measureFidelity, quantileUs, type FidelityResult } from './fidelity';
import { foreignActivity, peakRssKb, sampleProc, sleep, waitUntilIdle } from './proc';
import {
  agentSpec, floorSpec, ROOT, startWatcher, toolSpec, WatcherStartError,
  type AgentSummary, type WatcherSpec,
} from './watchers';

const BUILD = path.join(ROOT, 'build/bench');
const NOTES_MARKER = '<!-- Everything below this line is hand-written and kept when bench/run.sh rewrites the tables. -->';

interface Options {
  rounds: number;
  connectSeconds: number;
  execs: number;
  only: 'connect' | 'exec' | undefined;
  out: string;
  /** Seconds, over the whole run, that we may wait for other tracing/test processes to finish. */
  quietWait: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { rounds: 5, connectSeconds: 5, execs: 10_000, only: undefined, out: path.join(ROOT, 'bench/RESULTS.md'), quietWait: 120 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = (min: number): number => {
      const n = Number(value);
      if (value === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number >= ${min} (got ${value ?? 'nothing'})`);
      i++;
      return n;
    };
    switch (flag) {
      case '--rounds': options.rounds = Math.floor(number(1)); break;
      case '--connect-seconds': options.connectSeconds = number(0.5); break;
      case '--execs': options.execs = Math.floor(number(1)); break;
      case '--quiet-wait': options.quietWait = number(0); break;
      case '--only':
        if (value !== 'connect' && value !== 'exec') throw new Error(`--only takes connect or exec (got ${value ?? 'nothing'})`);
        options.only = value;
        i++;
        break;
      case '--out':
        if (!value) throw new Error('--out needs a file name');
        options.out = path.resolve(value);
        i++;
        break;
      default:
        throw new Error(`unknown option ${flag}; options: --rounds N --connect-seconds S --execs N --only connect|exec --out FILE --quiet-wait S`);
    }
  }
  return options;
}

/** What a storm program prints: {"connects"|"execs": n, "seconds", "per_second", ...}. */
interface StormResult {
  units: number;
  seconds: number;
  perSecond: number;
}

function runStorm(argv: string[]): Promise<StormResult> {
  const [program, ...args] = argv;
  if (!program) throw new Error('empty storm command');
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${err.trim()}`));
      const parsed = JSON.parse(out.trim()) as Record<string, number>;
      const units = parsed['connects'] ?? parsed['execs'];
      if (units === undefined || parsed['seconds'] === undefined || parsed['per_second'] === undefined) {
        return reject(new Error(`unexpected storm output: ${out.trim()}`));
      }
      resolve({ units, seconds: parsed['seconds'], perSecond: parsed['per_second'] });
    });
  });
}

interface RoundResult {
  round: number;
  /** Watcher id, or "none". */
  variant: string;
  storm: StormResult;
  watcherCpuSeconds?: number;
  /** How long the watcher kept busy after the storm ended (backlog). */
  drainSeconds?: number;
  peakRssKb?: number;
  exitCode?: number | null;
  /** Agent and floor: spawn to "probes attached" (the "running;" line), ms. */
  startupMs?: number;
  /** The Collector's own CPU during the run (export-at-rate variant only). */
  collectorCpuSeconds?: number;
  agentSummary?: AgentSummary;
  toolLostEvents?: number;
  /** Other tracing/test processes seen at the start or end of the storm. */
  disturbedBy: string[];
}

interface BenchmarkResult {
  name: 'connect' | 'exec' | 'exec-long-argv' | 'exec-varied-argv';
  unit: string;
  specs: WatcherSpec[];
  failed: Array<{ spec: WatcherSpec; message: string }>;
  rounds: RoundResult[];
  note?: string;
  kernelCosts?: KernelCost[];
  fidelity?: FidelityResult;
  diagnosticsError?: string;
  /**
   * Watchers that ran another storm than the benchmark's, in the same rounds (spec id → storm
   * argv): the short-argv control of the long-argv storms. No slowdown is computed for them.
   */
  ownStorms?: Record<string, string[]>;
}

const log = (message: string): void => { process.stderr.write(`bench: ${message}\n`); };

async function runOnce(round: number, spec: WatcherSpec | undefined, stormArgv: string[]): Promise<RoundResult> {
  if (!spec) {
    const foreignBefore = foreignActivity(new Set());
    const storm = await runStorm(stormArgv);
    const disturbedBy = [...new Set([...foreignBefore, ...foreignActivity(new Set())])];
    return { round, variant: 'none', storm, disturbedBy };
  }
  const watcher = await startWatcher(spec);
  const ours = new Set([watcher.pid]);
  const foreignBefore = foreignActivity(ours);
  const before = sampleProc(watcher.pid).cpuSeconds;
  const collectorPid = OTLP_VARIANTS.has(spec.id) ? collector?.pid() : undefined;
  const collectorBefore = collectorPid ? sampleProc(collectorPid).cpuSeconds : 0;
  const storm = await runStorm(stormArgv);
  const disturbedBy = [...new Set([...foreignBefore, ...foreignActivity(ours)])];
  const drainSeconds = await waitUntilIdle(watcher.pid, 20_000);
  const after = sampleProc(watcher.pid).cpuSeconds;
  const collectorCpuSeconds = collectorPid ? sampleProc(collectorPid).cpuSeconds - collectorBefore : undefined;
  const peak = peakRssKb(watcher.pid);
  const exit = await watcher.stop();
  return {
    round, variant: spec.id, storm, disturbedBy,
    watcherCpuSeconds: after - before, drainSeconds, peakRssKb: peak,
    ...(watcher.startupMs !== undefined ? { startupMs: watcher.startupMs } : {}),
    ...(collectorCpuSeconds !== undefined ? { collectorCpuSeconds } : {}),
    exitCode: exit.code, toolLostEvents: exit.toolLostEvents,
    ...(exit.summary ? { agentSummary: exit.summary } : {}),
  };
}

/** The export-at-rate variants: the agent exporting OTLP to the real Collector, by transport. */
const OTLP_VARIANTS: ReadonlyMap<string, string> = new Map([['agent-otlp', 'OTLP/gRPC'], ['agent-otlp-http', 'OTLP/HTTP (protobuf)']]);
let collector: CollectorHandle | undefined;

/** Shared budget for waiting on other engineers' tests and agents, in ms. */
let quietBudgetMs = 0;

async function waitForQuiet(): Promise<void> {
  let busy = foreignActivity(new Set());
  if (busy.length === 0 || quietBudgetMs <= 0) return;
  log(`waiting for ${busy.length} other tracing/test process(es) to finish (budget ${Math.round(quietBudgetMs / 1000)} s): ${busy[0] ?? ''}`);
  while (busy.length > 0 && quietBudgetMs > 0) {
    await sleep(1000);
    quietBudgetMs -= 1000;
    busy = foreignActivity(new Set());
  }
}

async function runBenchmark(name: BenchmarkResult['name'], unit: string, specs: WatcherSpec[], stormArgv: string[], rounds: number,
  ownStorms?: Record<string, string[]>): Promise<BenchmarkResult> {
  const result: BenchmarkResult = { name, unit, specs: [...specs], failed: [], rounds: [], ...(ownStorms ? { ownStorms } : {}) };
  let active: Array<WatcherSpec | undefined> = [undefined, ...specs];
  for (let round = 0; round < rounds; round++) {
    await waitForQuiet();
    const order = active.map((_, i) => active[(i + round) % active.length]);
    for (const spec of order) {
      try {
        const r = await runOnce(round, spec, (spec && ownStorms?.[spec.id]) ?? stormArgv);
        result.rounds.push(r);
        const cost = r.watcherCpuSeconds === undefined ? '' : `, watcher cpu ${r.watcherCpuSeconds.toFixed(2)} s`;
        const disturbed = r.disturbedBy.length ? ` (disturbed: ${r.disturbedBy.length} other tracing/test processes)` : '';
        log(`${name} round ${round + 1}/${rounds} ${r.variant}: ${r.storm.perSecond.toFixed(0)} ${unit}/s${cost}${disturbed}`);
      } catch (err) {
        if (!(err instanceof WatcherStartError) || !spec) throw err;
        log(`${spec.id} failed to start, dropped from this benchmark: ${err.message}`);
        result.failed.push({ spec, message: err.message });
        active = active.filter((s) => s !== spec);
      }
    }
  }
  result.specs = result.specs.filter((s) => !result.failed.some((f) => f.spec === s));
  return result;
}

// ---- diagnostics: kernel-side cost per program, fidelity against bpftrace ----

interface KernelCost {
  variant: string;
  label: string;
  units: number;
  programs: ProgramStats[];
}

/**
 * One extra run per variant (the Debian tools too) with kernel.bpf_stats_enabled=1:
 * how often each program ran and how long it took, per unit of work. Not
 * part of the timed rounds (the stats themselves cost two clock reads per run).
 */
async function kernelCosts(specs: WatcherSpec[], stormArgv: string[]): Promise<KernelCost[]> {
  const out: KernelCost[] = [];
  const restore = enableBpfStats();
  try {
    for (const spec of specs) {
      const watcher = await startWatcher(spec);
      try {
        const ids = programIdsOf(watcher.pid);
        const before = programStats(ids);
        const storm = await runStorm(stormArgv);
        await waitUntilIdle(watcher.pid, 20_000);
        out.push({ variant: spec.id, label: spec.label, units: storm.units, programs: statsDelta(before, programStats(ids)).filter((p) => p.runCount > 0) });
      } finally {
        await watcher.stop();
      }
    }
  } finally {
    restore();
  }
  return out;
}

function kernelCostTable(costs: KernelCost[], unit: string): string {
  const one = unit.replace(/s$/, '');
  const rows = [
    `| Watcher | program | runs per ${one} | ns per run | kernel µs per ${one} |`,
    '|---|---|---|---|---|',
  ];
  for (const c of costs) {
    for (const p of c.programs) {
      rows.push(`| ${c.label} | ${p.name} | ${(p.runCount / c.units).toFixed(2)} | ${(p.runTimeNs / Math.max(1, p.runCount)).toFixed(0)} | ${(p.runTimeNs / 1000 / c.units).toFixed(3)} |`);
    }
  }
  return rows.join('\n');
}

function fidelityText(f: FidelityResult): string {
  const q = (d: FidelityResult['agent']): string =>
    `p50 ${quantileUs(d, 0.5).toFixed(1)} µs, p90 ${quantileUs(d, 0.9).toFixed(1)} µs, p99 ${quantileUs(d, 0.99).toFixed(1)} µs, max ${quantileUs(d, 1).toFixed(1)} µs`;
  return [
    `One storm (${f.stormConnects} connects, ${f.stormPerSecond.toFixed(0)}/s with both watching) under the agent (\`--probes tcp --max-spans-per-second 0\`, jsonl) and a bpftrace probe on the same tracepoint (CLOSE→SYN_SENT to the next transition, comm \`connect_storm\`, 0.1 µs buckets).`,
    '',
    '| | connects seen | latency |',
    '|---|---|---|',
    `| storm (its own count) | ${f.stormConnects} | – |`,
    `| bpftrace (reference) | ${f.reference.count} | ${q(f.reference)} |`,
    `| ebpf-otel spans | ${f.agent.count} | ${q(f.agent)} |`,
    '',
    `Largest difference between the two at p50/p90/p99: ${f.maxQuantileDiffUs.toFixed(1)} µs. Agent: lost in kernel ${f.agentSummary?.lostInKernel ?? 'n/a'}, spans dropped ${f.agentSummary?.spansDropped ?? 'n/a'}.`,
  ].join('\n');
}

// ---- statistics and report ----

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const range = (values: number[], digits: number, scale = 1): string =>
  `${(median(values) * scale).toFixed(digits)} (${(Math.min(...values) * scale).toFixed(digits)} – ${(Math.max(...values) * scale).toFixed(digits)})`;

/** Per round: 1 - rate / unwatched rate of the same round. */
function slowdowns(bench: BenchmarkResult, variant: string): number[] {
  const out: number[] = [];
  for (const r of bench.rounds.filter((x) => x.variant === variant)) {
    const base = bench.rounds.find((x) => x.variant === 'none' && x.round === r.round);
    if (base) out.push(1 - r.storm.perSecond / base.storm.perSecond);
  }
  return out;
}

/**
 * The rounds the tables use: those where no run overlapped another engineer's
 * agent or test run, when there are at least 3 of them; otherwise all rounds.
 */
function usableRounds(bench: BenchmarkResult): { rounds: RoundResult[]; note: string } {
  const all = [...new Set(bench.rounds.map((r) => r.round))];
  const clean = all.filter((n) => bench.rounds.every((r) => r.round !== n || r.disturbedBy.length === 0));
  if (clean.length === all.length) return { rounds: bench.rounds, note: `All ${all.length} rounds ran with no other tracing or test process on the machine.` };
  const disturbed = all.filter((n) => !clean.includes(n));
  const why = disturbed.map((n) => {
    const first = bench.rounds.find((r) => r.round === n && r.disturbedBy.length > 0)?.disturbedBy[0] ?? '';
    return `round ${n + 1} (e.g. ${first.replace(/\|/g, '/').slice(0, 80)})`;
  }).join('; ');
  if (clean.length >= 3) {
    return {
      rounds: bench.rounds.filter((r) => clean.includes(r.round)),
      note: `${clean.length} of ${all.length} rounds ran with no other tracing or test process on the machine; the table uses those ${clean.length}. Disturbed and excluded: ${why}.`,
    };
  }
  return { rounds: bench.rounds, note: `Only ${clean.length} of ${all.length} rounds ran with the machine free of other tracing/test processes (other engineers' agents and test runs); the table uses all rounds, so the spread is wider than the machine's own noise.` };
}

function tableFor(all: BenchmarkResult): string {
  const usable = usableRounds(all);
  const bench = { ...all, rounds: usable.rounds };
  const unitLabel = bench.unit;
  const rows: string[] = [
    `| Watcher | ${unitLabel}/s, median (min – max) | slowdown vs. unwatched, median of rounds (min – max) | watcher CPU ms per 1,000 ${unitLabel} | busy after storm, s | peak RSS, MB | events per ${unitLabel.replace(/s$/, '')} | lost in kernel |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  const base = bench.rounds.filter((r) => r.variant === 'none');
  rows.push(`| none | ${range(base.map((r) => r.storm.perSecond), 0)} | – | – | – | – | – | – |`);
  for (const spec of bench.specs) {
    const runs = bench.rounds.filter((r) => r.variant === spec.id);
    if (runs.length === 0) continue;
    const cpuPerThousand = runs.map((r) => ((r.watcherCpuSeconds ?? 0) * 1000) / (r.storm.units / 1000));
    const peakMb = Math.max(...runs.map((r) => r.peakRssKb ?? 0)) / 1024;
    const received = spec.kind === 'tool'
      ? 'n/a'
      : `${range(runs.map((r) => (r.agentSummary?.eventsReceived ?? 0) / r.storm.units), 2)}${spec.kind === 'floor' ? ' program runs' : ''}`;
    const lost = spec.kind === 'agent'
      ? `${runs.reduce((a, r) => a + (r.agentSummary?.lostInKernel ?? 0), 0)} in ${runs.length} rounds`
      : spec.kind === 'floor'
        ? '–'
        : `${runs.reduce((a, r) => a + (r.toolLostEvents ?? 0), 0)} in ${runs.length} rounds ("lost N events" lines)`;
    const slowdown = bench.ownStorms?.[spec.id] ? '–' : `${range(slowdowns(bench, spec.id), 1, 100)} %`;
    rows.push(`| ${spec.label} | ${range(runs.map((r) => r.storm.perSecond), 0)} | ${slowdown} | ${range(cpuPerThousand, 1)} | ${range(runs.map((r) => r.drainSeconds ?? 0), 1)} | ${peakMb.toFixed(0)} | ${received} | ${lost} |`);
  }
  const agentRuns = bench.rounds.filter((r) => r.agentSummary);
  const spanLines = bench.specs.filter((s) => s.kind === 'agent').map((spec) => {
    const runs = agentRuns.filter((r) => r.variant === spec.id);
    if (runs.length === 0) return '';
    const exported = median(runs.map((r) => r.agentSummary!.spansExported));
    const sampled = median(runs.map((r) => r.agentSummary!.spansSampledOut));
    const dropped = runs.reduce((a, r) => a + r.agentSummary!.spansDropped, 0);
    const decode = runs.reduce((a, r) => a + r.agentSummary!.decodeErrors, 0);
    const startups = runs.map((r) => r.startupMs).filter((v): v is number => v !== undefined);
    const startup = startups.length ? ` Start-up to "probes attached": ${range(startups, 0)} ms.` : '';
    let line = `- ${spec.label}: spans exported per round (median) ${exported}, sampled out ${sampled}; spans dropped ${dropped} and decode errors ${decode} over all rounds.${startup}`;
    const transport = OTLP_VARIANTS.get(spec.id);
    if (transport) {
      // Sustained: from the storm's start until the agent is idle again, so a backlog does not flatter it.
      const rate = runs.map((r) => r.agentSummary!.spansExported / (r.storm.seconds + (r.drainSeconds ?? 0)));
      const cpu = runs.map((r) => ((r.watcherCpuSeconds ?? 0) * 1000) / Math.max(1, r.agentSummary!.spansExported / 1000));
      const col = runs.map((r) => ((r.collectorCpuSeconds ?? 0) * 1000) / Math.max(1, r.agentSummary!.spansExported / 1000));
      line += `\n- **Export at rate to the real Collector** (${transport}, uncapped): sustained ${range(rate, 0)} spans/s exported; agent CPU ${range(cpu, 1)} ms per 1,000 spans exported (the Collector itself: ${range(col, 1)} ms); spans dropped ${dropped}.`;
    }
    return line;
  }).filter(Boolean);
  const failed = bench.failed.map((f) => `- **${f.spec.label} did not start**: \`${f.message.split('\n').slice(-1)[0] ?? ''}\``);
  return [...rows, '', usable.note, '', ...spanLines, ...failed, ...(bench.note ? ['', bench.note] : [])].join('\n');
}

function diagnosticsSections(bench: BenchmarkResult): string[] {
  const out: string[] = [];
  if (bench.kernelCosts?.length) {
    out.push(
      `### Where the kernel-side cost goes (${bench.name} storm, one extra run per variant with \`kernel.bpf_stats_enabled=1\`)`,
      '',
      kernelCostTable(bench.kernelCosts, bench.unit),
      '',
    );
  }
  if (bench.fidelity) out.push('### Fidelity under load, against bpftrace on the same tracepoint', '', fidelityText(bench.fidelity), '');
  if (bench.diagnosticsError) out.push(`Diagnostics failed: \`${bench.diagnosticsError}\``, '');
  return out;
}

/**
 * Issue 9's target: agent CPU per 1,000 execs under a long-argv storm against the same agent under
 * the short-argv storm in the same round (within 20 %). Paired by round, not taken from the exec
 * section's table: that ran minutes earlier, and the machine's drift between sections (a fifth
 * either way) was as large as the effect measured.
 */
function longArgvComparison(bench: BenchmarkResult): string {
  const rounds = usableRounds(bench).rounds;
  const cpu = (r: RoundResult): number => ((r.watcherCpuSeconds ?? 0) * 1000) / (r.storm.units / 1000);
  const ratios: number[] = [];
  for (const long of rounds.filter((r) => r.variant === EXEC_ALL_ID)) {
    const short = rounds.find((r) => r.variant === SHORT_CONTROL_ID && r.round === long.round);
    if (short) ratios.push(cpu(long) / cpu(short));
  }
  if (ratios.length === 0) return '';
  const of = (id: string): string => range(rounds.filter((r) => r.variant === id).map(cpu), 1);
  const percent = (ratio: number): string => `${ratio >= 1 ? '+' : '−'}${Math.abs((ratio - 1) * 100).toFixed(0)} %`;
  const argv = bench.name === 'exec-varied-argv' ? 'argv different in every process' : 'the long argv';
  return `**Issue 9's target** (agent CPU within 20 % of the same storm with short argv): with ${argv}, ${of(EXEC_ALL_ID)} ms per 1,000 execs against ${of(SHORT_CONTROL_ID)} ms with short argv in the same rounds; ` +
    `per round, long / short = ${range(ratios, 2)}, that is ${percent(median(ratios))} (${percent(Math.min(...ratios))} to ${percent(Math.max(...ratios))}) over ${ratios.length} rounds.`;
}

function commandLines(bench: BenchmarkResult): string {
  return bench.specs.map((s) => {
    const argv = s.kind === 'agent' ? ['ebpf-otel', ...s.argv.slice(2)] : s.kind === 'floor' ? ['node dist/bench/floor.js', ...s.argv.slice(2)] : s.argv;
    const storm = bench.ownStorms?.[s.id];
    return `- ${s.label}: \`${argv.join(' ')} > /dev/null\`${storm ? `, under \`${[path.relative(ROOT, storm[0] ?? ''), ...storm.slice(1)].join(' ')}\`` : ''}`;
  }).join('\n');
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function report(options: Options, benches: BenchmarkResult[], startedAt: Date, seconds: number): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const sections: string[] = [
    '# Benchmark results',
    '',
    'Generated by `bench/run.sh` (`npm run bench`); the tables are measured, nothing is estimated.',
    '',
    `- Machine: ${os.availableParallelism()} CPUs (\`nproc\`), ${cpu}, Linux ${os.release()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM`,
    `- Load average when the run started (1, 5, 15 min): ${startLoad.map((l) => l.toFixed(2)).join(', ')}; rounds that overlapped other tracing or test processes are flagged below and left out when at least 3 clean rounds remain.`,
    `- Date: ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}; commit ${gitCommit()}; Node ${process.versions.node}; whole run ${Math.round(seconds)} s`,
    `- Rounds: ${options.rounds} per benchmark; in each round every variant runs once, order rotated per round. "Slowdown" is the median over rounds of 1 − rate(watched) / rate(unwatched, same round); min – max show the spread.`,
    '- Watcher CPU: utime + stime of the watcher process (all threads) from the storm start until it is idle again, divided by the work done. Peak RSS: VmHWM at the end of the round (max over rounds).',
    '- "Lost in kernel": the agent\'s exit summary (ring buffer reservations that failed). The Debian tools report lost perf-buffer samples on stderr.',
    '',
  ];
  for (const bench of benches) {
    if (bench.name === 'connect') {
      sections.push(
        `## Connect storm (${options.connectSeconds} s per run)`,
        '',
        '`build/bench/connect_storm` (bench/connect_storm.c, gcc -O2): one thread connects to a 127.0.0.1 listener, accepts, closes both ends (client with RST), as fast as it can. One connect = one agent event.',
        '',
        commandLines(bench),
        '',
        tableFor(bench),
        '',
        ...diagnosticsSections(bench),
      );
    } else if (bench.name === 'exec-long-argv' || bench.name === 'exec-varied-argv') {
      const varied = bench.name === 'exec-varied-argv';
      sections.push(
        `## Exec storm with ${LONG_ARGV_BYTES.toLocaleString('en-US')} bytes of argv${varied ? ', different in every process' : ''} (${options.execs.toLocaleString('en-US')} processes per run)`,
        '',
        varied
          ? 'The storm above, but the first argument ends with the process\'s number (`exec_storm … vary`): no process repeats another\'s argv, so what the agent keeps for a repeated argv never serves, and every argv is decoded and serialised afresh; the redactor\'s reuse of a program\'s unchanged words does serve (only the first argument changes: `receiver/src/commands/recent-argv.ts`).'
          : `The same storm, each process given 64 arguments shaped like what redaction works on (\`--password=…\`, \`-H "Authorization: Bearer …"\`, \`DB_PASSWORD=…\`, …), about ${LONG_ARGV_BYTES.toLocaleString('en-US')} bytes in all. Every process is a span here (\`--trace-execs all\`), so the argv is read, sent, redacted and exported each time.`,
        '',
        'The last row is the same agent, fresh, under the short-argv storm, run in the same rounds (order rotated with the others): the comparison the target is about.',
        '',
        commandLines(bench),
        '',
        tableFor(bench),
        '',
        longArgvComparison(bench),
        '',
      );
    } else {
      sections.push(
        `## Exec storm (${options.execs.toLocaleString('en-US')} processes per run)`,
        '',
        '`build/bench/exec_storm` (bench/exec_storm.c, gcc -O2): fork, execve /bin/true, waitpid, one after another.',
        '',
        commandLines(bench),
        '',
        tableFor(bench),
        '',
        ...diagnosticsSections(bench),
      );
    }
  }
  sections.push(
    '## Reproduce',
    '',
    '`npm run bench` (as root; it builds with `scripts/bootstrap.sh test`, then runs `bench/run.sh`), or `bash bench/run.sh --rounds 3 --only connect` for a quick look. Every round is kept in `build/bench/results.json`.',
    '',
  );
  return sections.join('\n');
}

function keepNotes(file: string): string {
  if (!existsSync(file)) return `${NOTES_MARKER}\n`;
  const old = readFileSync(file, 'utf8');
  const at = old.indexOf(NOTES_MARKER);
  return at >= 0 ? old.slice(at) : `${NOTES_MARKER}\n`;
}

const startLoad = os.loadavg();
/** argv bytes per process in the long-argv exec storm (the kernel reads up to 4 KiB). */
const LONG_ARGV_BYTES = 4000;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  quietBudgetMs = options.quietWait * 1000;
  const connectStorm = path.join(BUILD, 'connect_storm');
  const execStorm = path.join(BUILD, 'exec_storm');
  for (const bin of [connectStorm, execStorm]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash bench/run.sh (it compiles the storms) rather than this file directly`);
  }
  const startedAt = new Date();
  const benches: BenchmarkResult[] = [];

  if (options.only !== 'exec') {
    const stormArgv = [connectStorm, String(options.connectSeconds)];
    const specs = [
      floorSpec('floor-tp', 'floor: count-only program, classic tracepoint', 'tp'),
      floorSpec('floor-btf', 'floor: count-only program, tp_btf', 'tp_btf'),
      agentSpec('agent', 'ebpf-otel, defaults (cap 1,000 spans/s)', ['--probes', 'tcp']),
      agentSpec('agent-uncapped', 'ebpf-otel, --max-spans-per-second 0', ['--probes', 'tcp', '--max-spans-per-second', '0']),
      // Every probe, as installed: the dns probe's socket source hooks every send and receive on the
      // host, and must cost a TCP storm nothing (its connects send nothing; its checks are on UDP).
      agentSpec('agent-all', 'ebpf-otel, every probe (the real defaults; dns from sockets)', []),
    ];
    let collectorNote: string | undefined;
    try {
      collector = await startCollector({ config: path.join(ROOT, 'bench/collector-bench.yaml') });
      specs.push(agentSpec('agent-otlp', 'ebpf-otel --exporter otlp to the real Collector, --max-spans-per-second 0',
        ['--probes', 'tcp', '--max-spans-per-second', '0', '--otlp-endpoint', collector.endpoints.otlpGrpc], 'otlp'));
      specs.push(agentSpec('agent-otlp-http', 'ebpf-otel --exporter otlp --otlp-protocol http/protobuf to the real Collector, --max-spans-per-second 0',
        ['--probes', 'tcp', '--max-spans-per-second', '0', '--otlp-protocol', 'http/protobuf', '--otlp-endpoint', collector.endpoints.otlpHttp], 'otlp'));
    } catch (err) {
      collectorNote = `**Export at rate: not measured**, the Collector did not start: ${(err as Error).message.split('\n')[0] ?? ''}`;
      log(collectorNote);
    }
    specs.push(toolSpec('tcpstates', 'Debian libbpf-tools tcpstates', ['tcpstates']));
    const bench = await runBenchmark('connect', 'connects', specs, stormArgv, options.rounds);
    if (collectorNote) bench.note = collectorNote;
    await collector?.stop();
    collector = undefined;
    try {
      log('connect: kernel-side cost per program (bpf stats), one run per variant');
      bench.kernelCosts = await kernelCosts(bench.specs.filter((s) => !OTLP_VARIANTS.has(s.id)), stormArgv);
      log('connect: fidelity against bpftrace');
      bench.fidelity = await measureFidelity(
        agentSpec('fidelity', 'fidelity', ['--probes', 'tcp', '--max-spans-per-second', '0']),
        () => runStorm([connectStorm, String(Math.min(3, options.connectSeconds))]),
      );
    } catch (err) {
      bench.diagnosticsError = (err as Error).message.split('\n')[0] ?? String(err);
      log(`connect diagnostics failed: ${bench.diagnosticsError}`);
    }
    benches.push(bench);
  }

  if (options.only !== 'connect') {
    const libcPath = libcOf('/bin/true');
    const execSpecs = [
      // The real defaults (every probe): fork and exit programs attached, shells followed, this storm not.
      agentSpec('agent-exec', 'ebpf-otel, defaults (every probe, dns from sockets; spans for interactive commands only)', []),
      // The dns probe's libc source puts uprobes in libc, written into every process that maps it, at
      // exec: that source, the defaults without the dns probe, and one bare uprobe in libc by bpftrace,
      // show that cost apart from the default socket source's.
      agentSpec('agent-exec-dns-libc', 'ebpf-otel --dns-source libc (defaults with the dns probe\'s uprobes in libc)', ['--dns-source', 'libc']),
      agentSpec('agent-exec-no-dns', 'ebpf-otel --probes tcp,exec,bash (defaults without the dns probe)', ['--probes', 'tcp,exec,bash']),
      execAllSpec(),
      toolSpec('execsnoop', 'Debian libbpf-tools execsnoop', ['execsnoop']),
    ];
    if (libcPath) {
      execSpecs.push(toolSpec('bpftrace-libc-uprobe', `bpftrace, one empty uprobe on ${path.basename(libcPath)} getaddrinfo (reference: what any libc uprobe costs an exec)`,
        ['bpftrace', '-e', `uprobe:${libcPath}:getaddrinfo { }`]));
    }
    const stormArgv = [execStorm, String(options.execs)];
    let bench = await runBenchmark('exec', 'execs', execSpecs, stormArgv, options.rounds);
    if (bench.failed.some((f) => f.spec.id === 'agent-exec')) {
      // The exec probe is not wired into the agent yet: measure the agent as
      // it is (TCP probe only) under the same storm, and say so.
      const tcpOnly = agentSpec('agent-tcp', 'ebpf-otel --probes tcp (exec probe pending)', ['--probes', 'tcp']);
      const fallback = await runBenchmark('exec', 'execs', [tcpOnly, ...bench.specs], stormArgv, options.rounds);
      fallback.failed.push(...bench.failed);
      fallback.note = '**Exec probe: pending.** `--probes exec` did not start when this ran, so the agent row is the TCP probe under the exec storm.';
      bench = fallback;
    }
    try {
      log('exec: kernel-side cost per program (bpf stats), one run per variant');
      bench.kernelCosts = await kernelCosts(bench.specs, stormArgv);
    } catch (err) {
      bench.diagnosticsError = (err as Error).message.split('\n')[0] ?? String(err);
      log(`exec diagnostics failed: ${bench.diagnosticsError}`);
    }
    benches.push(bench);
  }

  if (options.only !== 'connect') {
    // Issue 9's benchmark: redaction and the argv path under long, secret-shaped command lines.
    // Each with its short-argv control in the same rounds (longArgvComparison).
    const shortControl = { ...execAllSpec(), id: SHORT_CONTROL_ID, label: 'the same, under the short-argv storm (control)' };
    const ownStorms = { [SHORT_CONTROL_ID]: [execStorm, String(options.execs)] };
    benches.push(await runBenchmark('exec-long-argv', 'execs', [execAllSpec(), shortControl],
      [execStorm, String(options.execs), '/bin/true', String(LONG_ARGV_BYTES)], options.rounds, ownStorms));
    benches.push(await runBenchmark('exec-varied-argv', 'execs', [execAllSpec(), shortControl],
      [execStorm, String(options.execs), '/bin/true', String(LONG_ARGV_BYTES), 'vary'], options.rounds, ownStorms));
  }

  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  mkdirSync(BUILD, { recursive: true });
  writeFileSync(path.join(BUILD, 'results.json'), `${JSON.stringify({ options, startedAt, benches }, null, 2)}\n`);
  const notes = keepNotes(options.out);
  writeFileSync(options.out, `${report(options, benches, startedAt, seconds)}\n${notes}`);
  log(`wrote ${path.relative(ROOT, options.out)} and build/bench/results.json in ${Math.round(seconds)} s`);
}

const EXEC_ALL_ID = 'agent-exec-all';
/** execAllSpec under the short-argv storm, in the long-argv benchmarks' rounds. */
const SHORT_CONTROL_ID = 'agent-exec-all-short-argv';

/** The agent with every exec a span: the variant the short-, long- and varied-argv storms compare (longArgvComparison). */
function execAllSpec(): WatcherSpec {
  return agentSpec(EXEC_ALL_ID, 'ebpf-otel --probes exec --trace-execs all --max-spans-per-second 0', ['--probes', 'exec', '--trace-execs', 'all', '--max-spans-per-second', '0']);
}

/** The C library a program is linked with (ldd), or undefined when static or ldd fails. */
function libcOf(program: string): string | undefined {
  try {
    const out = execFileSync('ldd', [program], { encoding: 'utf8' });
    return /\s(\/\S*\/libc\.so\.6)\s/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exitCode = 1;
  await collector?.stop().catch(() => undefined);
});
