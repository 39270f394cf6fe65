/**
 * Checks made before touching the kernel, so that the common problems get a
 * message that names the fix instead of an errno from deep inside libbpf.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ProbeName } from './config';

export class PreflightError extends Error {}

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

const OBJECT_OF: Record<ProbeName, string> = { tcp: 'tcpconnect', exec: 'proc', bash: 'bash', dns: 'dns' };
/** The dns probe's object for each source. */
const DNS_OBJECT_OF: Record<'sockets' | 'libc', string> = { sockets: 'dnssock', libc: 'dns' };

/** The oldest kernel every program loads on: BPF compare-and-swap (bpf/tcpconnect.bpf.c) came in 5.12. */
export const MIN_KERNEL: readonly [number, number] = [5, 12];

/**
 * A hint to add when a program failed to load on a kernel older than
 * MIN_KERNEL, else undefined. Only a hint, never a refusal at start:
 * distribution kernels backport BPF features under older version numbers,
 * and the verifier's own log (which the load error carries) says what it refused.
 */
export function oldKernelHint(release: string): string | undefined {
  const match = /^(\d+)\.(\d+)/.exec(release);
  if (!match) return undefined;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1])) return undefined;
  return (
    `this kernel is ${release}, older than Linux ${MIN_KERNEL.join('.')}, which the programs need ` +
    '(ring buffers 5.8, BTF-typed tracepoints 5.5, socket storage from tracing programs 5.11, BPF compare-and-swap 5.12): ' +
    'run the agent on a newer kernel'
  );
}

export function effectiveCapabilities(statusText: string): bigint {
  const line = statusText.split('\n').find((l) => l.startsWith('CapEff:'));
  return line ? BigInt(`0x${line.slice(7).trim()}`) : 0n;
}

export function hasCap(caps: bigint, cap: number): boolean {
  return (caps & (1n << BigInt(cap))) !== 0n;
}

export function preflight(bpfDir: string, probes: readonly ProbeName[], btfPath = '/sys/kernel/btf/vmlinux', dnsSource: 'sockets' | 'libc' = 'libc'): void {
  const customBtf = btfPath !== '/sys/kernel/btf/vmlinux';
  if (process.platform !== 'linux') {
    throw new PreflightError(`ebpf-otel runs on Linux only (this is ${process.platform})`);
  }
  try {
    accessSync(btfPath, constants.R_OK);
  } catch {
    throw new PreflightError(
      customBtf
        ? `--btf ${btfPath}: no such readable file: point it at the BTF of the running kernel`
        : `${btfPath} is missing or unreadable: this kernel does not expose BTF, which the CO-RE programs need. ` +
            'Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 11+, Ubuntu 20.10+, RHEL 8.2+ and most distribution kernels since 5.8 have it), ' +
            'or pass a BTF file for this kernel with --btf.',
    );
  }
  const caps = effectiveCapabilities(readFileSync('/proc/self/status', 'utf8'));
  const canBpf = hasCap(caps, CAP_SYS_ADMIN) || (hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON));
  if (!canBpf) {
    throw new PreflightError(
      `not enough privileges to load eBPF programs (uid ${process.getuid?.() ?? '?'}, effective capabilities 0x${caps.toString(16)}): ` +
        'run as root (sudo), or grant CAP_BPF and CAP_PERFMON, with CAP_SYS_ADMIN for the bash probe and the dns probe\'s libc source (uprobes) and ' +
        'CAP_DAC_READ_SEARCH when not root, for other users\' binaries and /proc entries (plus CAP_SYS_RESOURCE on kernels before 5.11), e.g. ' +
        '`setpriv --inh-caps +bpf,+perfmon,+sys_admin,+dac_read_search --ambient-caps +bpf,+perfmon,+sys_admin,+dac_read_search -- ...` ' +
        "or docker's cap_add (README: What it needs); all of them are dropped once the probes are attached",
    );
  }
  for (const probe of probes) {
    const file = path.join(bpfDir, `${probe === 'dns' ? DNS_OBJECT_OF[dnsSource] : OBJECT_OF[probe]}.bpf.o`);
    if (!existsSync(file)) {
      throw new PreflightError(`${file} is missing: build the BPF programs with scripts/bootstrap.sh (npm start does it) or point --bpf-dir at them`);
    }
  }
}
