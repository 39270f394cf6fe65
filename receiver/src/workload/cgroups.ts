/**
 * Cgroup v2 id -> the workload it belongs to (container.id, k8s.pod.uid).
 *
 * Every event carries the task's cgroup v2 id (the inode number of its group
 * on cgroup2fs). On a miss in a bounded cache this looks it up lazily:
 *   1. the names the kernel recorded for that id at exec/fork (bpf/proc.h,
 *      `cgroup_names`): exact, and still there after a short-lived container's
 *      group is removed;
 *   2. else /proc/<pid>/cgroup of the event's process, accepted only when the
 *      group at that path on the cgroup2 mount has that id (the process may
 *      have moved, or the path may be gone).
 * What neither knows gets no container attributes (and is counted).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { cgroupPathSegments, identifyCgroup, type ContainerIdentity } from './container-id';

/** One mount of mountinfo: where a filesystem type is mounted and which of its directories is the mount's root. */
export interface Cgroup2Mount {
  /** Where the cgroup2 filesystem is mounted (e.g. /sys/fs/cgroup/unified). */
  mountPoint: string;
  /** The directory of the hierarchy it shows ("/" for the whole hierarchy). */
  root: string;
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * The cgroup2 mounts listed in /proc/self/mountinfo text, whole hierarchies first
 * (a container's own /sys/fs/cgroup shows only its subtree: root is not "/").
 */
export function findCgroup2Mounts(mountinfo: string): Cgroup2Mount[] {
  const mounts: Cgroup2Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    if (after[0] !== 'cgroup2' || before.length < 5) continue;
    mounts.push({ root: unescapeMountinfo(before[3] as string), mountPoint: unescapeMountinfo(before[4] as string) });
  }
  return mounts.sort((a, b) => Number(b.root === '/') - Number(a.root === '/'));
}

/** What an event's cgroup says about its workload. */
export interface CgroupWorkload extends ContainerIdentity {
  /** The group's path as far as it is known (a suffix when only kernel names were left). */
  path?: string;
}

export type CgroupLookupFailure = 'unknown_cgroup' | 'process_gone' | 'cgroup_moved';

export interface CgroupResolverOptions {
  /** The cgroup2 mount point whose root is the whole hierarchy; undefined: none (cgroup v1 only). */
  root: string | undefined;
  /** Names recorded by the kernel for an id (leaf first); undefined when the exec probe is not loaded. */
  kernelNames?: (cgroupId: bigint) => string[] | undefined;
  /** Entries kept; the least recently used go first. */
  maxEntries: number;
  procRoot?: string;
  onEvict?: () => void;
  onLookupFailure?: (reason: CgroupLookupFailure) => void;
}

const NONE: CgroupWorkload = Object.freeze({});

export class CgroupResolver {
  private readonly cache = new Map<bigint, CgroupWorkload>();
  private readonly procRoot: string;
  /** Cache hits, misses (lookups) and evictions, for the benchmark and the logs. */
  readonly counts = { hits: 0, lookups: 0, evictions: 0 };

  constructor(private readonly opts: CgroupResolverOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
  }

  get size(): number {
    return this.cache.size;
  }

  /** The workload of cgroup `id`, seen in an event of process `pid` (0: no process to ask). */
  resolve(id: bigint, pid: number): CgroupWorkload {
    if (this.opts.root === undefined) return NONE;
    const cached = this.cache.get(id);
    if (cached !== undefined) {
      this.counts.hits++;
      // Most recently used last.
      this.cache.delete(id);
      this.cache.set(id, cached);
      return cached;
    }
    this.counts.lookups++;
    const found = this.lookup(id, pid);
    if (found === undefined) return NONE; // not cached: the next event may find it
    this.cache.set(id, found);
    if (this.cache.size > this.opts.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
      this.counts.evictions++;
      this.opts.onEvict?.();
    }
    return found;
  }

  private lookup(id: bigint, pid: number): CgroupWorkload | undefined {
    const names = this.opts.kernelNames?.(id);
    if (names !== undefined && names.length > 0) {
      const segments = [...names].reverse();
      return describe(segments, `${names.length >= 3 ? '.../' : '/'}${segments.filter((s) => s !== '').join('/')}`);
    }
    if (pid <= 0) {
      this.opts.onLookupFailure?.('unknown_cgroup');
      return undefined;
    }
    let text: string;
    try {
      text = readFileSync(path.join(this.procRoot, String(pid), 'cgroup'), 'utf8');
    } catch {
      this.opts.onLookupFailure?.('process_gone');
      return undefined;
    }
    const line = text.split('\n').find((l) => l.startsWith('0::'));
    if (line === undefined) {
      this.opts.onLookupFailure?.('unknown_cgroup');
      return undefined;
    }
    const cgroupPath = line.slice(3);
    try {
      const ino = statSync(path.join(this.opts.root as string, cgroupPath), { bigint: true }).ino;
      if (ino !== id) {
        this.opts.onLookupFailure?.('cgroup_moved');
        return undefined;
      }
    } catch {
      this.opts.onLookupFailure?.('process_gone');
      return undefined;
    }
    return describe(cgroupPathSegments(cgroupPath), cgroupPath);
  }
}

function describe(segments: string[], cgroupPath: string): CgroupWorkload {
  const identity = identifyCgroup(segments);
  return Object.freeze({ ...identity, path: cgroupPath });
}

/**
 * The cgroup2 hierarchy to resolve ids on: `override` (EBPF_OTEL_CGROUP_ROOT) if given, else the
 * first whole-hierarchy cgroup2 mount of /proc/self/mountinfo. undefined: cgroup v2 is not mounted.
 */
export function findCgroup2Root(override: string | undefined, mountinfoPath = '/proc/self/mountinfo'): string | undefined {
  if (override) return override;
  let text: string;
  try {
    text = readFileSync(mountinfoPath, 'utf8');
  } catch {
    return undefined;
  }
  const whole = findCgroup2Mounts(text).find((m) => m.root === '/');
  return whole?.mountPoint;
}
