/**
 * Where the kernel-side cost goes: per-program run time from
 * kernel.bpf_stats_enabled (run_time_ns and run_cnt of each program, as
 * `bpftool prog show` reports them). The programs of a watcher are found
 * through its own file descriptors (/proc/<pid>/fdinfo: prog_id of its
 * program and link fds). Stats cost two clock reads per invocation, so they
 * are only on for a separate diagnostic run, never during the timed rounds.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface ProgramStats {
  id: number;
  name: string;
  runTimeNs: number;
  runCount: number;
}

/** Turns kernel.bpf_stats_enabled on; returns a function that restores the old value. */
export function enableBpfStats(): () => void {
  const before = readFileSync(SYSCTL, 'utf8').trim();
  writeFileSync(SYSCTL, '1');
  return () => writeFileSync(SYSCTL, before);
}

/** BPF program ids a process holds (program fds and link fds). */
export function programIdsOf(pid: number): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const match = /^prog_id:\s+(\d+)/m.exec(info);
    if (match?.[1]) ids.add(Number(match[1]));
  }
  return [...ids];
}

/** run_time_ns and run_cnt of the given programs, now. */
export function programStats(ids: readonly number[]): ProgramStats[] {
  if (ids.length === 0) return [];
  const all = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Array<{
    id: number; name?: string; run_time_ns?: number; run_cnt?: number;
  }>;
  return all
    .filter((p) => ids.includes(p.id))
    .map((p) => ({ id: p.id, name: p.name ?? `prog ${p.id}`, runTimeNs: p.run_time_ns ?? 0, runCount: p.run_cnt ?? 0 }));
}

/** after - before, per program (programs loaded in between count from zero). */
export function statsDelta(before: readonly ProgramStats[], after: readonly ProgramStats[]): ProgramStats[] {
  return after.map((a) => {
    const b = before.find((x) => x.id === a.id);
    return { ...a, runTimeNs: a.runTimeNs - (b?.runTimeNs ?? 0), runCount: a.runCount - (b?.runCount ?? 0) };
  });
}
