/**
 * Where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo: on
 * /sys/fs/cgroup, on /sys/fs/cgroup/unified (hybrid hosts), or, for an agent in
 * a container, where the host's hierarchy is bind-mounted.
 */
import { readFileSync, readlinkSync } from 'node:fs';

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
  return mounts.sort((a, b) => Number(isWhole(b.root)) - Number(isWhole(a.root)));
}

/**
 * Whether a cgroup2 mount shows the whole hierarchy: its root is "/", or, seen from inside a
 * cgroup namespace (a container), only ".." steps above that namespace's root (the host's
 * /sys/fs/cgroup bind-mounted into a container shows as "/../..").
 */
export function isWhole(root: string): boolean {
  return /^\/(\.\.(\/\.\.)*)?\/?$/.test(root);
}

/**
 * The cgroup2 hierarchy to resolve ids on: `override` (EBPF_OTEL_CGROUP_ROOT) if given, else the
 * first whole-hierarchy cgroup2 mount of /proc/self/mountinfo. undefined: cgroup v2 is not mounted.
 */
export function findCgroup2Root(override: string | undefined, mountinfoPath = '/proc/self/mountinfo', privateNamespace = inPrivateCgroupNamespace()): string | undefined {
  if (override) return override;
  let text: string;
  try {
    text = readFileSync(mountinfoPath, 'utf8');
  } catch {
    return undefined;
  }
  const mounts = findCgroup2Mounts(text).filter((m) => isWhole(m.root));
  // In a cgroup namespace of its own (a container), a mount with root "/" is that namespace's
  // subtree: prefer one that shows the hierarchy above it (the host's, bind-mounted).
  if (privateNamespace) {
    const above = mounts.find((m) => m.root !== '/' && m.root !== '');
    if (above) return above.mountPoint;
  }
  return mounts[0]?.mountPoint;
}

/** Whether this process has a cgroup namespace other than pid 1's (seen with the host's pids: hostPID). */
export function inPrivateCgroupNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/cgroup') !== readlinkSync('/proc/1/ns/cgroup');
  } catch {
    return false;
  }
}
