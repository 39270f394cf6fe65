/**
 * What /proc says about one process: CPU time used so far (all threads,
 * user + system) and peak resident memory. The benchmarks read these around
 * a storm to charge the watcher's cost to the work it watched.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (USER_HZ). */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface ProcSample {
  /** utime + stime of the whole process, seconds. */
  cpuSeconds: number;
  /** One-letter state: R running, S sleeping, Z zombie, ... */
  state: string;
}

export function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { cpuSeconds: (utime + stime) / CLOCK_TICKS_PER_SECOND, state: fields[0] ?? '?' };
}

/** VmHWM (peak resident set) in kB, from /proc/<pid>/status. */
export function peakRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmHWM in /proc/${pid}/status (is the process a zombie already?)`);
  return Number(match[1]);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the process has stopped burning CPU: two consecutive
 * `intervalMs` windows with less than one clock tick each. A watcher that
 * fell behind a storm keeps working after it; this charges that work to the
 * storm too. Returns the seconds waited (0 when it was already idle).
 */
export async function waitUntilIdle(pid: number, maxMs: number, intervalMs = 200): Promise<number> {
  const started = Date.now();
  let previous = sampleProc(pid).cpuSeconds;
  let idleWindows = 0;
  let lastBusy = started;
  while (Date.now() - started < maxMs && idleWindows < 2) {
    await sleep(intervalMs);
    const now = sampleProc(pid).cpuSeconds;
    if (now - previous < 1 / CLOCK_TICKS_PER_SECOND) {
      idleWindows++;
    } else {
      idleWindows = 0;
      lastBusy = Date.now();
    }
    previous = now;
  }
  return (lastBusy - started) / 1000;
}

/**
 * Other processes that trace or test on this machine right now (other
 * engineers' agents, test runs, libbpf-tools, bpftrace): they attach to the
 * same tracepoints or compete for the 2 CPUs, so a round that overlaps them
 * is not comparable. Returns short descriptions, excluding `ours`.
 */
export function foreignActivity(ours: ReadonlySet<number>): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || ours.has(pid) || pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue; // exited while we looked
    }
    if (/dist\/receiver\/src\/cli\.js|dist\/test\/|--test\b|\b(tcpstates|execsnoop|bpftrace|tcpconnect|opensnoop)\b/.test(cmdline)) {
      found.push(`${pid} ${cmdline.slice(0, 120)}`);
    }
  }
  return found;
}
