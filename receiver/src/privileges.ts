/**
 * Least privilege: once every probe is attached and reading, the agent needs
 * no capability any more. What it still does (read ring buffers and maps
 * through file descriptors it holds, detach by closing them, read /proc and
 * /etc/passwd, talk OTLP) needs none on Linux ≥ 6.5, where the bpf()
 * commands on existing descriptors are no longer gated by
 * kernel.unprivileged_bpf_disabled. On older kernels with that sysctl set,
 * CAP_BPF is kept for map reads. no_new_privs is set either way.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { dropPrivileges } from '../../addon/lib/index';
import type { Logger } from './log';

export const CAP_BPF = 39;

/** Capabilities kept after start-up on this kernel, with the reason. */
export function capabilitiesToKeep(kernelRelease: string = release(), unprivilegedBpfDisabled: string = readSysctl()): { keep: number[]; why: string } {
  const [major = 0, minor = 0] = kernelRelease.split(/[.-]/).map(Number);
  const old = major < 6 || (major === 6 && minor < 5);
  if (old && unprivilegedBpfDisabled.trim() !== '0') {
    return { keep: [CAP_BPF], why: `kernel ${kernelRelease} < 6.5 with kernel.unprivileged_bpf_disabled=${unprivilegedBpfDisabled.trim()}: map reads need CAP_BPF` };
  }
  return { keep: [], why: 'nothing is needed once the probes are attached' };
}

function readSysctl(): string {
  try {
    return readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8');
  } catch {
    return '0';
  }
}

/** Per thread of this process: effective and permitted capabilities, no_new_privs. */
export function threadPrivileges(pid: number | 'self' = 'self'): Array<{ tid: number; effective: bigint; permitted: bigint; noNewPrivs: boolean }> {
  const out = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const hex = (name: string): bigint => BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'}`);
    out.push({ tid: Number(tid), effective: hex('CapEff'), permitted: hex('CapPrm'), noNewPrivs: /^NoNewPrivs:\s*1/m.test(status) });
  }
  return out;
}

/** Drops what is not needed any more, in every thread, and says what is left. */
export function dropAfterAttach(log: Logger): void {
  const { keep, why } = capabilitiesToKeep();
  const result = dropPrivileges(keep);
  const mask = keep.reduce((m, c) => m | (1n << BigInt(c)), 0n);
  const privileged = threadPrivileges().filter((t) => (t.permitted & ~mask) !== 0n || !t.noNewPrivs);
  if (result.errno !== 0 || privileged.length > 0) {
    log.warn(
      `privileges: could not drop capabilities in ${privileged.length || 1} of ${result.threads} threads` +
        (result.errno !== 0 ? ` (errno ${result.errno})` : '') +
        (privileged.length > 0 ? ` (threads ${privileged.map((t) => t.tid).join(', ')}: node's SIGUSR1 watcher blocks every signal; start node with --disable-sigusr1, as npm start does)` : ''),
    );
    return;
  }
  log.info(`privileges: capabilities dropped in all ${result.threads} threads, no_new_privs set; kept: ${keep.length ? keep.map((c) => (c === CAP_BPF ? 'CAP_BPF' : `cap ${c}`)).join(', ') : 'none'} (${why})`);
}
