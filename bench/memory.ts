/**
 * The agent's memory under a connect storm, quicker than the full bench/run.sh: per round, each
 * variant (defaults, uncapped, uncapped to the real Collector over OTLP/gRPC and over OTLP/HTTP
 * with protobuf) runs once under the same
 * storm, in an order rotated per round. For each run: peak RSS (VmHWM), RSS when idle before the
 * storm, CPU ms per 1,000 connects (utime + stime until idle again), the storm's rate, and the
 * agent's exit summary. Prints one JSON object per run, then medians (min – max) per variant.
 *
 * Usage (as root, after `bash scripts/bootstrap.sh test` and `bash bench/run.sh` once, which builds
 * build/bench/connect_storm): scripts/node.sh dist/bench/memory.js [--rounds N] [--seconds S]
 *   [--only defaults,uncapped,otlp,otlp-http] [--node-flag FLAG]... [--agent-flag FLAG]...
 * --node-flag passes a V8/Node flag to the agent (e.g. --max-semi-space-size=4); --compare-node-flag
 * runs every variant a second time with that flag, interleaved in the same rounds (machine noise
 * then hits both alike); --compare-cli PATH does the same with another build of the agent (its
 * dist/receiver/src/cli.js, started with the Node flags of its own #! line, as that build was run, and
 * the --node-flag ones), e.g. the commit
 * before a change;
 * --agent-flag adds agent flags to every variant.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { shebangNodeFlags } from '../receiver/src/node-flags';
import { startCollector, type CollectorHandle } from '../test/helpers/backends';
import { foreignActivity, peakRssKb, sampleProc, waitUntilIdle } from './proc';
import { AGENT_NODE_FLAGS, ROOT, startWatcher, type WatcherSpec } from './watchers';

const CLI = path.join(ROOT, 'dist/receiver/src/cli.js');
const CONNECT_STORM = path.join(ROOT, 'build/bench/connect_storm');

interface Options {
  rounds: number;
  seconds: number;
  only: Set<string>;
  nodeFlags: string[];
  compareNodeFlags: string[];
  compareCli: string | undefined;
  agentFlags: string[];
}

function parseOptions(argv: string[]): Options {
  const options: Options = { rounds: 3, seconds: 5, only: new Set(['defaults', 'uncapped', 'otlp', 'otlp-http']), nodeFlags: [], compareNodeFlags: [], compareCli: undefined, agentFlags: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case '--rounds': options.rounds = Number(value); break;
      case '--seconds': options.seconds = Number(value); break;
      case '--only': options.only = new Set(value.split(',')); break;
      case '--node-flag': options.nodeFlags.push(value); break;
      case '--compare-node-flag': options.compareNodeFlags.push(value); break;
      case '--compare-cli': options.compareCli = path.resolve(value); break;
      case '--agent-flag': options.agentFlags.push(value); break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  return options;
}

/** The resident set now, in kB (VmRSS). */
function rssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

function runStorm(seconds: number): Promise<{ connects: number; perSecond: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CONNECT_STORM, [String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`connect_storm exited ${code}`));
      const parsed = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { connects?: number; per_second?: number };
      resolve({ connects: parsed.connects ?? 0, perSecond: parsed.per_second ?? 0 });
    });
  });
}

interface Run {
  variant: string;
  round: number;
  idleRssMb: number;
  peakRssMb: number;
  cpuMsPerThousand: number;
  perSecond: number;
  summary: string;
  /** Other tracing or test processes seen around the storm (they can add connects and CPU load). */
  disturbedBy: string[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const range = (values: number[], digits: number): string =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)} – ${Math.max(...values).toFixed(digits)})`;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(CONNECT_STORM)) throw new Error(`${CONNECT_STORM} is missing: gcc -O2 -o ${CONNECT_STORM} bench/connect_storm.c`);
  let collector: CollectorHandle | undefined;
  if (options.only.has('otlp') || options.only.has('otlp-http')) collector = await startCollector({ config: path.join(ROOT, 'bench/collector-bench.yaml') });
  const specFor = (variant: string, nodeFlags: readonly string[], args: string[], exporter: 'jsonl' | 'otlp', cli = CLI): WatcherSpec => ({
    id: variant,
    label: variant,
    kind: 'agent',
    argv: [process.execPath, ...nodeFlags, cli, '--exporter', exporter, '--probes', 'tcp', ...args, ...options.agentFlags],
  });
  const spec = (variant: string, args: string[], exporter: 'jsonl' | 'otlp'): WatcherSpec[] => [
    specFor(variant, [...AGENT_NODE_FLAGS, ...options.nodeFlags], args, exporter),
    ...(options.compareNodeFlags.length > 0
      ? [specFor(`${variant} ${options.compareNodeFlags.join(' ')}`, [...AGENT_NODE_FLAGS, ...options.nodeFlags, ...options.compareNodeFlags], args, exporter)]
      : []),
    ...(options.compareCli ? [specFor(`${variant} (compared build)`, [...shebangNodeFlags(options.compareCli), ...options.nodeFlags], args, exporter, options.compareCli)] : []),
  ];
  const variants: WatcherSpec[] = [];
  if (options.only.has('defaults')) variants.push(...spec('defaults', [], 'jsonl'));
  if (options.only.has('uncapped')) variants.push(...spec('uncapped', ['--max-spans-per-second', '0'], 'jsonl'));
  if (collector && options.only.has('otlp')) variants.push(...spec('otlp', ['--max-spans-per-second', '0', '--otlp-endpoint', collector.endpoints.otlpGrpc], 'otlp'));
  if (collector && options.only.has('otlp-http')) {
    variants.push(...spec('otlp-http', ['--max-spans-per-second', '0', '--otlp-protocol', 'http/protobuf', '--otlp-endpoint', collector.endpoints.otlpHttp], 'otlp'));
  }
  const runs: Run[] = [];
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + round) % variants.length]!;
        const watcher = await startWatcher(variant);
        const idleRssMb = rssKb(watcher.pid) / 1024;
        const before = sampleProc(watcher.pid).cpuSeconds;
        const foreignBefore = foreignActivity(new Set([watcher.pid]));
        const storm = await runStorm(options.seconds);
        const disturbedBy = [...new Set([...foreignBefore, ...foreignActivity(new Set([watcher.pid]))])];
        await waitUntilIdle(watcher.pid, 20_000);
        const cpu = sampleProc(watcher.pid).cpuSeconds - before;
        const peakRssMb = peakRssKb(watcher.pid) / 1024;
        const exit = await watcher.stop();
        const run: Run = {
          variant: variant.id, round, idleRssMb, peakRssMb,
          cpuMsPerThousand: (cpu * 1000) / (storm.connects / 1000), perSecond: storm.perSecond,
          summary: exit.summary?.line ?? `exit ${exit.code}: ${exit.stderr.slice(-300)}`,
          disturbedBy,
        };
        runs.push(run);
        process.stdout.write(`${JSON.stringify(run)}\n`);
      }
    }
  } finally {
    await collector?.stop();
  }
  process.stdout.write(`node flags: ${options.nodeFlags.join(' ') || '(none)'}; agent flags: ${options.agentFlags.join(' ') || '(none)'}\n`);
  for (const v of variants) {
    const all = runs.filter((r) => r.variant === v.id);
    const clean = all.filter((r) => r.disturbedBy.length === 0);
    // Disturbed runs are left out when at least 2 clean ones remain.
    const mine = clean.length >= 2 ? clean : all;
    process.stdout.write(`${v.id.padEnd(40)} peak RSS ${range(mine.map((r) => r.peakRssMb), 1)} MB; idle ${range(mine.map((r) => r.idleRssMb), 1)} MB; ` +
      `CPU ${range(mine.map((r) => r.cpuMsPerThousand), 1)} ms/1,000 connects; ${range(mine.map((r) => r.perSecond), 0)} connects/s; ${mine.length} of ${all.length} runs${mine === all && clean.length < all.length ? ' (some disturbed)' : ''}\n`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`memory bench: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
