/**
 * Workload benchmarks (issue 8):
 *   1. What a connect storm costs under the agent from inside a container's cgroup (a Docker-style
 *      system.slice/docker-<id>.scope) compared with the host's cgroup. This machine is shared and
 *      its speed drifts by tens of percent within seconds, so storms run in adjacent pairs (host,
 *      container; order alternating) and only the ratio container/host of a pair is used: per
 *      round, PAIRS pairs unwatched, then an agent is started and PAIRS pairs watched. The extra
 *      cost of a container = 1 - median watched ratio / median unwatched ratio of the round.
 *   2. Memory for many distinct cgroups: N (default 10,000) container cgroups are created one
 *      after another, a process in each makes one connect, the group is removed. The agent's
 *      resident memory before and after, its workload cache evictions, and the kernel maps'
 *      memory (fixed: preallocated at load).
 * Writes bench/WORKLOADS.md and build/bench/workloads.json.
 *
 * Usage (as root, after `bash scripts/bootstrap.sh test`):
 *   scripts/node.sh dist/bench/workloads.js [--rounds N] [--connect-seconds S] [--cgroups N] [--out FILE]
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findCgroup2Root } from '../receiver/src/workload/mounts';
import { sampleProc, sleep, waitUntilIdle } from './proc';
import { agentSpec, ROOT, startWatcher, type RunningWatcher } from './watchers';

const BUILD = path.join(ROOT, 'build/bench');
const log = (m: string): void => { process.stderr.write(`bench/workloads: ${m}\n`); };

interface Options { rounds: number; pairs: number; connectSeconds: number; cgroups: number; out: string }

function parseOptions(argv: string[]): Options {
  const o: Options = { rounds: 5, pairs: 8, connectSeconds: 1, cgroups: 10_000, out: path.join(ROOT, 'bench/WORKLOADS.md') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    const n = Number(value);
    switch (flag) {
      case '--rounds': o.rounds = Math.max(1, Math.floor(n)); break;
      case '--pairs': o.pairs = Math.max(1, Math.floor(n)); break;
      case '--connect-seconds': o.connectSeconds = Math.max(0.5, n); break;
      case '--cgroups': o.cgroups = Math.max(1, Math.floor(n)); break;
      case '--out': o.out = path.resolve(value ?? ''); break;
      default: throw new Error(`unknown option ${flag}; options: --rounds N --pairs N --connect-seconds S --cgroups N --out FILE`);
    }
    if (flag !== '--out' && !Number.isFinite(n)) throw new Error(`${flag} needs a number`);
  }
  return o;
}

/** Runs the connect storm, in `cgroupDir` when given (the shell moves itself in, then execs). */
function storm(seconds: number, cgroupDir: string | undefined): Promise<{ perSecond: number; connects: number }> {
  const bin = path.join(BUILD, 'connect_storm');
  const [cmd, args] = cgroupDir
    ? ['sh', ['-c', `echo $$ > '${cgroupDir}/cgroup.procs' && exec "$0" "$@"`, bin, String(seconds)]]
    : [bin, [String(seconds)]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`connect_storm exited ${code}`));
      const r = JSON.parse(out.trim()) as { per_second: number; connects: number };
      resolve({ perSecond: r.per_second, connects: r.connects });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const range = (xs: number[]): string => `${pct(Math.min(...xs))} .. ${pct(Math.max(...xs))}`;

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** Kernel memory of the agent's maps: map ids from /proc/<pid>/fdinfo, names and memlock from bpftool. */
function kernelMapBytes(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    const ids = new Set<number>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let info: string;
      try {
        info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      } catch {
        continue;
      }
      const id = /^map_id:\s+(\d+)/m.exec(info)?.[1];
      if (id) ids.add(Number(id));
    }
    const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string; bytes_memlock?: number }>;
    for (const m of maps) {
      if (!ids.has(m.id) || !m.name) continue;
      out[m.name] = (out[m.name] ?? 0) + (m.bytes_memlock ?? 0);
    }
  } catch {
    // bpftool missing: the table says n/a
  }
  return out;
}

const CHURN = `
import os, socket, sys, threading
top, n, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1024)
port = srv.getsockname()[1]
def accept():
    while True:
        c, _ = srv.accept(); c.close()
threading.Thread(target=accept, daemon=True).start()
for i in range(n):
    d = "%s/docker-%064x.scope" % (top, first + i)
    os.mkdir(d)
    pid = os.fork()
    if pid == 0:
        with open(d + "/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
        # A fork inside the group (what a runtime's exec does): the kernel records the group's names.
        child = os.fork()
        if child == 0:
            s = socket.create_connection(("127.0.0.1", port)); s.close(); os._exit(0)
        os.waitpid(child, 0); os._exit(0)
    os.waitpid(pid, 0)
    os.rmdir(d)
print(n)
`;

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run as root (the agent needs CAP_BPF and CAP_PERFMON; cgroups are created)');
  const root = findCgroup2Root(undefined);
  if (!root) throw new Error('no cgroup2 mount (findmnt -t cgroup2)');
  mkdirSync(BUILD, { recursive: true });
  if (!existsSync(path.join(BUILD, 'connect_storm'))) {
    execFileSync('gcc', ['-O2', '-Wall', '-o', path.join(BUILD, 'connect_storm'), path.join(ROOT, 'bench/connect_storm.c')]);
  }
  const top = path.join(root, `ebpf-otel-bench-${process.pid}`);
  const containerDir = path.join(top, `system.slice/docker-${randomBytes(32).toString('hex')}.scope`);
  mkdirSync(containerDir, { recursive: true });
  const agentArgs = ['--probes', 'tcp,exec', '--per-container-metrics'];
  // Pairs of adjacent storms (host, container; the order alternates) share the machine's state of the
  // moment: their ratio container/host is what is compared, unwatched vs watched.
  const pairs: Array<{ round: number; watched: boolean; host: number; container: number }> = [];
  // The agent's own CPU per 1,000 connects (utime + stime until it is idle again), by cgroup: the
  // only work that differs between the two is the agent's (the kernel path is the same).
  const agentCpuMs: Record<'host' | 'container', number[]> = { host: [], container: [] };
  const runPairs = async (round: number, agentPid: number | undefined): Promise<void> => {
    for (let i = 0; i < o.pairs; i++) {
      const order: Array<'host' | 'container'> = i % 2 === 0 ? ['host', 'container'] : ['container', 'host'];
      const rate: Record<string, number> = {};
      for (const where of order) {
        const cpu0 = agentPid ? sampleProc(agentPid).cpuSeconds : 0;
        const r = await storm(o.connectSeconds, where === 'container' ? containerDir : undefined);
        rate[where] = r.perSecond;
        if (agentPid) {
          await waitUntilIdle(agentPid, 10_000, 100);
          agentCpuMs[where].push(((sampleProc(agentPid).cpuSeconds - cpu0) * 1e6) / r.connects);
        }
      }
      pairs.push({ round, watched: agentPid !== undefined, host: rate.host as number, container: rate.container as number });
    }
  };
  try {
    for (let r = 1; r <= o.rounds; r++) {
      await runPairs(r, undefined);
      const agent = await startWatcher(agentSpec('agent', 'agent', agentArgs));
      try {
        await runPairs(r, agent.pid);
        await waitUntilIdle(agent.pid, 30_000);
      } finally {
        await agent.stop();
      }
      const mine = pairs.filter((p) => p.round === r);
      const ratio = (w: boolean): number => median(mine.filter((p) => p.watched === w).map((p) => p.container / p.host));
      log(`round ${r}: container/host unwatched ${ratio(false).toFixed(3)}, watched ${ratio(true).toFixed(3)}`);
    }
  } finally {
    rmdirSync(containerDir);
    rmdirSync(path.dirname(containerDir));
  }
  const ratios = (w: boolean): number[] => pairs.filter((p) => p.watched === w).map((p) => p.container / p.host);
  const perRoundExtra = Array.from({ length: o.rounds }, (_, i) => {
    const mine = pairs.filter((p) => p.round === i + 1);
    const u = median(mine.filter((p) => !p.watched).map((p) => p.container / p.host));
    const w = median(mine.filter((p) => p.watched).map((p) => p.container / p.host));
    return 1 - w / u;
  });
  const hostCost = Array.from({ length: o.rounds }, (_, i) => {
    const mine = pairs.filter((p) => p.round === i + 1);
    return 1 - median(mine.filter((p) => p.watched).map((p) => p.host)) / median(mine.filter((p) => !p.watched).map((p) => p.host));
  });
  const extra = perRoundExtra;

  // 2. Memory for N distinct cgroups.
  const churnTop = path.join(top, 'churn.slice');
  mkdirSync(churnTop, { recursive: true });
  let agent: RunningWatcher | undefined;
  let memory: Record<string, unknown> = {};
  try {
    agent = await startWatcher(agentSpec('agent', 'agent', agentArgs));
    const before = rssKb(agent.pid);
    const t0 = Date.now();
    // Twice N new groups: bounded caches mean the second N costs (next to) nothing more.
    const churn = (first: number): void => {
      execFileSync('python3', ['-c', CHURN, churnTop, String(o.cgroups), String(first)], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 3_600_000 });
    };
    churn(1);
    const churnSeconds = (Date.now() - t0) / 1000;
    await waitUntilIdle(agent.pid, 60_000);
    await sleep(500);
    const after = rssKb(agent.pid);
    churn(1 + o.cgroups);
    await waitUntilIdle(agent.pid, 60_000);
    await sleep(500);
    const afterTwice = rssKb(agent.pid);
    const maps = kernelMapBytes(agent.pid);
    const exit = await agent.stop();
    agent = undefined;
    const evictions = /workload cache evictions: ([^;]*)/.exec(exit.stderr)?.[1]?.trim() ?? '?';
    const received = /events received: ([^;]*)/.exec(exit.stderr)?.[1]?.trim() ?? '?';
    memory = { cgroups: o.cgroups, churnSeconds, rssBeforeKb: before, rssAfterKb: after, rssAfterTwiceKb: afterTwice, evictions, received, maps };
    log(`memory: ${o.cgroups} cgroups in ${churnSeconds.toFixed(0)} s: RSS ${before} -> ${after} kB, after ${2 * o.cgroups}: ${afterTwice} kB; evictions ${evictions}`);
  } finally {
    if (agent) await agent.stop();
    rmdirSync(churnTop);
    rmdirSync(top);
  }

  const m = memory as { cgroups: number; rssBeforeKb: number; rssAfterKb: number; rssAfterTwiceKb: number; evictions: string; received: string; maps: Record<string, number>; churnSeconds: number };
  const perTenK = ((m.rssAfterKb - m.rssBeforeKb) / 1024) * (10_000 / m.cgroups);
  const mapLine = (name: string): string => (m.maps[name] !== undefined ? `${(m.maps[name] / 1048576).toFixed(1)} MiB` : 'n/a');
  const text = `# Workload benchmarks

Generated by \`scripts/node.sh dist/bench/workloads.js\` (bench/workloads.ts) on ${os.cpus().length} CPUs
(${os.cpus()[0]?.model ?? 'unknown CPU'}), kernel ${os.release()}, ${new Date().toISOString().slice(0, 10)}.
Agent: \`--exporter jsonl ${agentArgs.join(' ')}\` (stdout to /dev/null).

## Connect storm from a container cgroup vs the host cgroup

${o.rounds} rounds; each: ${o.pairs} adjacent pairs of ${o.connectSeconds} s storms (host, container) unwatched, then ${o.pairs} watched.

| What | Median | Spread |
|---|---|---|
| container/host rate ratio, unwatched (all pairs) | ${median(ratios(false)).toFixed(3)} | ${Math.min(...ratios(false)).toFixed(3)} .. ${Math.max(...ratios(false)).toFixed(3)} |
| container/host rate ratio, watched (all pairs) | ${median(ratios(true)).toFixed(3)} | ${Math.min(...ratios(true)).toFixed(3)} .. ${Math.max(...ratios(true)).toFixed(3)} |
| extra cost of the container cgroup under the agent, per round | ${(median(extra) * 100).toFixed(1)} points | ${(Math.min(...extra) * 100).toFixed(1)} .. ${(Math.max(...extra) * 100).toFixed(1)} points |
| (agent cost on the host cgroup, per round; noisy here) | ${pct(median(hostCost))} | ${range(hostCost)} |
| agent CPU per 1,000 connects from the host cgroup | ${median(agentCpuMs.host).toFixed(1)} ms | ${Math.min(...agentCpuMs.host).toFixed(1)} .. ${Math.max(...agentCpuMs.host).toFixed(1)} ms |
| agent CPU per 1,000 connects from the container cgroup | ${median(agentCpuMs.container).toFixed(1)} ms | ${Math.min(...agentCpuMs.container).toFixed(1)} .. ${Math.max(...agentCpuMs.container).toFixed(1)} ms |

## Memory for ${m.cgroups.toLocaleString('en')} distinct cgroups

Each cgroup: created, one process forks inside it and connects once, removed (${m.churnSeconds.toFixed(0)} s for ${m.cgroups.toLocaleString('en')}).
Then ${m.cgroups.toLocaleString('en')} more, to show that the caches are bounded.

| What | Value |
|---|---|
| Agent resident memory before / after ${m.cgroups.toLocaleString('en')} / after ${(2 * m.cgroups).toLocaleString('en')} cgroups | ${(m.rssBeforeKb / 1024).toFixed(1)} MiB / ${(m.rssAfterKb / 1024).toFixed(1)} MiB / ${(m.rssAfterTwiceKb / 1024).toFixed(1)} MiB |
| Growth, first 10,000 cgroups (scaled) | ${perTenK.toFixed(1)} MiB |
| Growth, next 10,000 cgroups (scaled) | ${(((m.rssAfterTwiceKb - m.rssAfterKb) / 1024) * (10_000 / m.cgroups)).toFixed(1)} MiB |
| Workload cache evictions over both (bounded caches: 4,096 cgroups, 1,024 workload resources) | ${m.evictions} |
| Events received | ${m.received} |
| Kernel: cgroup_names map (16,384 entries, preallocated) | ${mapLine('cgroup_names')} |
| Kernel: tcp_hist map (4,096 keys, preallocated) | ${mapLine('tcp_hist')} |
`;
  writeFileSync(o.out, text);
  mkdirSync(BUILD, { recursive: true });
  writeFileSync(path.join(BUILD, 'workloads.json'), JSON.stringify({ pairs, agentCpuMs, memory }, null, 2));
  log(`wrote ${o.out}`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench/workloads: ${err.message}\n`);
  process.exit(1);
});
