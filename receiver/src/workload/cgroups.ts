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
 *      have moved, or the path may be gone);
 *   3. else (no process to ask: metrics; or it is gone) the cgroup2 tree itself:
 *      one walk indexes every group's inode -> path (bounded; at most one walk
 *      per WALK_INTERVAL_MS), for groups that existed before the agent started.
 * What none of them knows gets no container attributes (and is counted).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { cgroupPathSegments, identifyCgroup, type ContainerIdentity } from './container-id';

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

/** A tree walk indexes at most this many groups, and runs at most once in this interval. */
export const WALK_MAX_GROUPS = 50_000;
export const WALK_INTERVAL_MS = 30_000;

/** inode -> path (relative to `root`, with a leading /) of every group under `root`, breadth first. */
export function indexCgroupTree(root: string, maxGroups = WALK_MAX_GROUPS): Map<bigint, string> {
  const index = new Map<bigint, string>();
  const queue: string[] = ['/'];
  while (queue.length > 0 && index.size < maxGroups) {
    const rel = queue.shift() as string;
    const abs = path.join(root, rel);
    try {
      index.set(statSync(abs, { bigint: true }).ino, rel);
      for (const entry of readdirSync(abs, { withFileTypes: true })) {
        if (entry.isDirectory()) queue.push(path.posix.join(rel, entry.name));
      }
    } catch {
      // removed while we walked
    }
  }
  return index;
}

export class CgroupResolver {
  private readonly cache = new Map<bigint, CgroupWorkload>();
  /** The most recently used key of `cache` (its last entry). */
  private newest: bigint | undefined;
  private readonly procRoot: string;
  /** Cache hits, misses (lookups), evictions and tree walks, for the benchmark and the logs. */
  readonly counts = { hits: 0, lookups: 0, evictions: 0, walks: 0 };
  private treeIndex: Map<bigint, string> | undefined;
  private lastWalkMs = -Infinity;

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
      // Most recently used last; not re-inserted when it is last already (a storm from one group):
      // every delete + set leaves a hole, and the Map then rebuilds its table, in old space.
      if (id !== this.newest) {
        this.cache.delete(id);
        this.cache.set(id, cached);
        this.newest = id;
      }
      return cached;
    }
    this.counts.lookups++;
    const found = this.lookup(id, pid);
    if (found === undefined) return NONE; // not cached: the next event may find it
    this.cache.set(id, found);
    this.newest = id;
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
      // An empty name is the root (or above it): the path is complete; else only its tail is known.
      const complete = names.some((n) => n === '');
      return describe(segments, `${complete ? '/' : '.../'}${segments.filter((s) => s !== '').join('/')}`);
    }
    const fromProc = pid > 0 ? this.fromProc(id, pid) : undefined;
    if (fromProc !== undefined && typeof fromProc !== 'string') return fromProc;
    const fromTree = this.fromTree(id);
    if (fromTree !== undefined) return fromTree;
    this.opts.onLookupFailure?.(fromProc ?? 'unknown_cgroup');
    return undefined;
  }

  /** The workload from /proc/<pid>/cgroup, or why not. */
  private fromProc(id: bigint, pid: number): CgroupWorkload | CgroupLookupFailure {
    let text: string;
    try {
      text = readFileSync(path.join(this.procRoot, String(pid), 'cgroup'), 'utf8');
    } catch {
      return 'process_gone';
    }
    const line = text.split('\n').find((l) => l.startsWith('0::'));
    if (line === undefined) return 'unknown_cgroup';
    const cgroupPath = line.slice(3);
    // Inside a cgroup namespace, paths are relative to it ("/../../system.slice/..."): not a path
    // on the mount. The tree walk finds the group instead.
    if (cgroupPath.split('/').includes('..')) return 'unknown_cgroup';
    try {
      const ino = statSync(path.join(this.opts.root as string, cgroupPath), { bigint: true }).ino;
      if (ino !== id) return 'cgroup_moved';
    } catch {
      return 'process_gone';
    }
    return describe(cgroupPathSegments(cgroupPath), cgroupPath);
  }

  /** The workload from an index of the cgroup2 tree, rebuilt at most every WALK_INTERVAL_MS. */
  private fromTree(id: bigint): CgroupWorkload | undefined {
    let rel = this.treeIndex?.get(id);
    const now = Date.now();
    if (rel === undefined && now - this.lastWalkMs >= WALK_INTERVAL_MS) {
      this.lastWalkMs = now;
      this.counts.walks++;
      this.treeIndex = indexCgroupTree(this.opts.root as string);
      rel = this.treeIndex.get(id);
    }
    return rel === undefined ? undefined : describe(cgroupPathSegments(rel), rel);
  }
}

function describe(segments: string[], cgroupPath: string): CgroupWorkload {
  const identity = identifyCgroup(segments);
  return Object.freeze({ ...identity, path: cgroupPath });
}
