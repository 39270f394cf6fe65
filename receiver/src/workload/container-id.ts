/**
 * Container identity from cgroup v2 path names, as container runtimes and the
 * kubelet name their groups. Pure: takes the path's segments (root first; only
 * the deepest few are needed, which is all the kernel records for a cgroup that
 * is already gone) and returns what they say, or nothing for a layout we do
 * not know: an unknown layout gets no attributes, never a guessed one.
 *
 *   Docker      systemd   .../docker-<64 hex>.scope            cgroupfs  /docker/<64 hex>
 *   containerd  systemd   .../cri-containerd-<64 hex>.scope    cgroupfs  /kubepods/<qos>/pod<uid>/<64 hex>
 *   CRI-O       systemd   .../crio-<64 hex>.scope              cgroupfs  /kubepods/<qos>/pod<uid>/crio-<64 hex>
 *   Podman      systemd   .../libpod-<64 hex>.scope[/container] cgroupfs /libpod_parent/libpod-<64 hex>
 *   Kubernetes pods: systemd kubepods[-<qos>]-pod<uid with _>.slice, cgroupfs pod<uid> under kubepods.
 * Runtime helper groups (crio-conmon-*, libpod-conmon-*) are not containers.
 */

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman';

export interface ContainerIdentity {
  /** 64 lowercase hex digits, as the runtime and Kubernetes' containerStatuses report it. */
  containerId?: string;
  runtime?: ContainerRuntime;
  /** The pod's UID with dashes (8-4-4-4-12), from a kubepods path. */
  podUid?: string;
}

const HEX64 = '[0-9a-f]{64}';
const SCOPE_PREFIXES: Readonly<Record<string, ContainerRuntime>> = {
  docker: 'docker',
  'cri-containerd': 'containerd',
  crio: 'cri-o',
  libpod: 'podman',
};
/** systemd driver: <prefix>-<id>.scope */
const SYSTEMD_SCOPE = new RegExp(`^(docker|cri-containerd|crio|libpod)-(${HEX64})\\.scope$`);
/** cgroupfs driver with a runtime prefix: crio-<id>, libpod-<id>, docker-<id> */
const CGROUPFS_PREFIXED = new RegExp(`^(docker|crio|libpod)-(${HEX64})$`);
const BARE_ID = new RegExp(`^(${HEX64})$`);
const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}';
/** systemd driver: kubepods-pod<uid>.slice (guaranteed) or kubepods-<qos>-pod<uid>.slice */
const SYSTEMD_POD = new RegExp(`^kubepods(?:-besteffort|-burstable)?-pod(${UID})\\.slice$`);
/** cgroupfs driver: pod<uid> */
const CGROUPFS_POD = new RegExp(`^pod(${UID})$`);
const CGROUPFS_QOS = new Set(['kubepods', 'besteffort', 'burstable']);

function normalUid(raw: string): string | undefined {
  const uid = raw.replace(/_/g, '-');
  // One separator style per uid: systemd escapes every dash, cgroupfs none.
  if (raw.includes('_') && raw.includes('-')) return undefined;
  return uid;
}

/** The pod a path is in, from its kubepods segments. */
function podOf(segments: readonly string[]): string | undefined {
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i] as string;
    const systemd = SYSTEMD_POD.exec(s);
    if (systemd) return normalUid(systemd[1] as string);
    const cgroupfs = CGROUPFS_POD.exec(s);
    // pod<uid> means a pod only under kubepods/<qos>/ (or kubepods/ for guaranteed pods).
    if (cgroupfs && i > 0 && CGROUPFS_QOS.has(segments[i - 1] as string) && !(cgroupfs[1] as string).includes('_')) {
      return cgroupfs[1];
    }
  }
  return undefined;
}

/** What the segments of a cgroup v2 path (root first) say about the container; {} when nothing. */
export function identifyCgroup(segments: readonly string[]): ContainerIdentity {
  const parts = segments.filter((s) => s !== '');
  const leaf = parts[parts.length - 1];
  const parent = parts[parts.length - 2];
  if (leaf === undefined) return {};
  const podUid = podOf(parts);
  const withPod = (id: ContainerIdentity): ContainerIdentity => (podUid ? { ...id, podUid } : id);

  const scope = SYSTEMD_SCOPE.exec(leaf);
  if (scope) return withPod({ containerId: scope[2] as string, runtime: SCOPE_PREFIXES[scope[1] as string] as ContainerRuntime });
  // Podman (cgroups v2, systemd) runs the container's processes in a `container` child of its scope.
  if (leaf === 'container' && parent !== undefined) {
    const outer = SYSTEMD_SCOPE.exec(parent);
    if (outer && outer[1] === 'libpod') return withPod({ containerId: outer[2] as string, runtime: 'podman' });
  }
  const prefixed = CGROUPFS_PREFIXED.exec(leaf);
  if (prefixed) {
    const runtime = SCOPE_PREFIXES[prefixed[1] as string] as ContainerRuntime;
    // crio-<id> is a container only inside a pod; libpod-<id> under libpod_parent (or a pod);
    // docker-<id> under docker.
    if (runtime === 'cri-o' && podUid) return withPod({ containerId: prefixed[2] as string, runtime });
    if (runtime === 'podman' && (parent === 'libpod_parent' || podUid)) return withPod({ containerId: prefixed[2] as string, runtime });
    if (runtime === 'docker' && parent === 'docker') return { containerId: prefixed[2] as string, runtime };
    return podUid ? { podUid } : {};
  }
  const bare = BARE_ID.exec(leaf);
  if (bare && parent !== undefined) {
    if (parent === 'docker') return { containerId: bare[1] as string, runtime: 'docker' };
    // The kubelet's cgroupfs driver with containerd: kubepods/<qos>/pod<uid>/<id>.
    if (podUid && CGROUPFS_POD.test(parent)) return { containerId: bare[1] as string, runtime: 'containerd', podUid };
  }
  // A pod's own group (sandbox), or anything else under a pod: the pod, no container.
  return podUid ? { podUid } : {};
}

/** Splits a cgroup v2 path ("/a/b/c", as /proc/<pid>/cgroup shows it) into segments. */
export function cgroupPathSegments(path: string): string[] {
  return path.split('/').filter((s) => s !== '' && s !== '.');
}
