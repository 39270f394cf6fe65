/**
 * Issue 9's benchmark alone, quicker than bench/run.sh, and against another build: the agent with
 * `--probes exec --trace-execs all --max-spans-per-second 0` (jsonl to /dev/null) under the exec
 * storm with short argv and with 4,000 bytes of secret-shaped argv (bench/exec_storm.c), each
 * build and argv once per round in an order rotated per round. Per run: agent CPU per 1,000 execs
 * (utime + stime from the storm's start until the agent is idle again), peak RSS, the storm's
 * rate, events received. A run whose agent received more than 3 events per exec of the storm (the
 * agent traces every exec on the host: another engineer's storm was charged to it; 2 % and 300
 * events of slack) is printed but left out of the medians.
 *
 * Usage (as root, after `bash bench/run.sh` compiled build/bench/exec_storm once):
 *   scripts/node.sh dist/bench/exec-argv.js [--rounds 6] [--execs 10000] [--warm 10000] [--compare-cli DIR/dist/receiver/src/cli.js] [--no-redact-too] [--varied-too]
 * --no-redact-too adds the long argv with `--no-redact`: the pipeline's own cost of long argv, without the rules.
 * --varied-too adds the long argv different in every process: the cost when no exec repeats another's argv.
 * --warm N first runs N execs of the same storm, not charged: the steady state of an agent that has run a while
 * (its code compiled, its heap grown) rather than the first 10,000 execs of a fresh one.
 *
 * Sample output (shared 2-CPU machine, 5 rounds of 10,000 execs, --compare-cli a build of 7f22bc0):
 *   this tree     short argv 77.0 (76.0 – 102.0) ms per 1,000 execs, peak RSS 93 MB (3 of 5 runs)
 *   this tree     long argv 122.0 (116.0 – 137.0) ms per 1,000 execs, peak RSS 109 MB (5 of 5 runs)
 *   this tree     long / short per round 1.58 (1.24 – 1.80) over 3 rounds with both runs kept
 *   compared      short argv 82.0 (74.0 – 89.0) ms per 1,000 execs, peak RSS 101 MB (4 of 5 runs)
 *   compared      long argv 158.5 (130.0 – 194.0) ms per 1,000 execs, peak RSS 169 MB (4 of 5 runs)
 *   compared      long / short per round 2.08 (1.46 – 2.26) over 4 rounds with both runs kept
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { peakRssKb, sampleProc, waitUntilIdle } from './proc';
import { AGENT_NODE_FLAGS, ROOT, startWatcher, type WatcherSpec } from './watchers';

const EXEC_STORM = path.join(ROOT, 'build/bench/exec_storm');
/** bench/run.ts's LONG_ARGV_BYTES. */
const LONG_ARGV_BYTES = 4000;
/** Fork, exec and exit: what one storm iteration sends. */
const EVENTS_PER_EXEC = 3;

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function positive(name: string, fallback: number): number {
  const value = Number(option(name) ?? fallback);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} takes a positive integer`);
  return value;
}

interface Variant {
  build: string;
  cli: string;
  /**
   * long-no-redact: the long argv with `--no-redact`, what the pipeline costs without the rules.
   * long-varied: the long argv made different for every process (exec_storm's `vary`): what the agent
   * keeps for a repeated argv (decoded, redacted, its JSON) never serves; its reuse of the unchanged
   * words does (only the first argument changes).
   */
  argv: 'short' | 'long' | 'long-no-redact' | 'long-varied';
}

interface Run {
  cpuMsPerThousand: number;
  peakRssMb: number;
}

function runStorm(args: string[]): Promise<{ per_second: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(EXEC_STORM, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { per_second: number }) : reject(new Error(`exec_storm exited ${code}`))));
  });
}

async function runOnce(v: Variant, execs: number, warm: number): Promise<{ run: Run; line: string; kept: boolean }> {
  const spec: WatcherSpec = {
    id: v.build, label: v.build, kind: 'agent',
    argv: [process.execPath, ...AGENT_NODE_FLAGS, v.cli, '--exporter', 'jsonl', '--probes', 'exec', '--trace-execs', 'all', '--max-spans-per-second', '0',
      ...(v.argv === 'long-no-redact' ? ['--no-redact'] : [])],
  };
  const watcher = await startWatcher(spec);
  const stormArgs = (count: number): string[] =>
    v.argv === 'short' ? [String(count)] : [String(count), '/bin/true', String(LONG_ARGV_BYTES), ...(v.argv === 'long-varied' ? ['vary'] : [])];
  if (warm > 0) {
    await runStorm(stormArgs(warm));
    await waitUntilIdle(watcher.pid, 20_000);
  }
  const before = sampleProc(watcher.pid).cpuSeconds;
  const storm = await runStorm(stormArgs(execs));
  await waitUntilIdle(watcher.pid, 20_000);
  const cpuSeconds = sampleProc(watcher.pid).cpuSeconds - before;
  const peakRssMb = peakRssKb(watcher.pid) / 1024;
  const exit = await watcher.stop();
  const events = exit.summary?.eventsReceived ?? 0;
  // A little slack for the machine's own processes (cron, shells); another storm is thousands.
  const kept = events <= EVENTS_PER_EXEC * (execs + warm) * 1.02 + 300;
  const run = { cpuMsPerThousand: (cpuSeconds * 1e6) / execs, peakRssMb };
  const line = `${v.build.padEnd(14)}${v.argv.padEnd(15)} ${run.cpuMsPerThousand.toFixed(1)} ms per 1,000 execs, ${storm.per_second.toFixed(0)} execs/s, ` +
    `peak RSS ${peakRssMb.toFixed(0)} MB, events ${events}, lost ${exit.summary?.lostInKernel ?? '?'}${kept ? '' : ' (other execs traced too: left out)'}`;
  return { run, line, kept };
}

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const spread = (values: readonly number[], digits: number): string =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)} – ${Math.max(...values).toFixed(digits)})`;

async function main(): Promise<void> {
  const rounds = positive('rounds', 6);
  const execs = positive('execs', 10_000);
  const warm = option('warm') === undefined ? 0 : positive('warm', 1);
  const builds: Array<[string, string]> = [['this tree', path.join(ROOT, 'dist/receiver/src/cli.js')]];
  const compare = option('compare-cli');
  if (compare !== undefined) builds.push(['compared', path.resolve(compare)]);
  const kinds: Array<Variant['argv']> = ['short', 'long'];
  if (process.argv.includes('--no-redact-too')) kinds.push('long-no-redact');
  if (process.argv.includes('--varied-too')) kinds.push('long-varied');
  const variants: Variant[] = builds.flatMap(([build, cli]) => kinds.map((argv) => ({ build, cli, argv })));
  const kept = new Map<string, Array<{ round: number; run: Run }>>();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + round) % variants.length] as Variant;
      const result = await runOnce(v, execs, warm);
      process.stdout.write(`round ${round + 1} ${result.line}\n`);
      const key = `${v.build}\u0000${v.argv}`;
      if (result.kept) kept.set(key, [...(kept.get(key) ?? []), { round, run: result.run }]);
    }
  }
  for (const [build] of builds) {
    const of = (argv: string): Array<{ round: number; run: Run }> => kept.get(`${build}\u0000${argv}`) ?? [];
    for (const argv of kinds) {
      const runs = of(argv);
      if (runs.length === 0) continue;
      process.stdout.write(`${build.padEnd(14)}${argv} argv ${spread(runs.map((r) => r.run.cpuMsPerThousand), 1)} ms per 1,000 execs, ` +
        `peak RSS ${median(runs.map((r) => r.run.peakRssMb)).toFixed(0)} MB (${runs.length} of ${rounds} runs)\n`);
    }
    for (const long of kinds.filter((k) => k !== 'short')) {
      const ratios = of(long).flatMap((l) => of('short').filter((s) => s.round === l.round).map((s) => l.run.cpuMsPerThousand / s.run.cpuMsPerThousand));
      if (ratios.length > 0) process.stdout.write(`${build.padEnd(14)}${long} / short per round ${spread(ratios, 2)} over ${ratios.length} rounds with both runs kept\n`);
    }
  }
}

main().catch((err: Error) => {
  process.stderr.write(`exec-argv: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
