/**
 * Workload identity, pure parts: cgroup path names -> container.id / k8s.pod.uid (one row per
 * runtime and driver layout, and the paths that must give nothing), cgroup2 mounts from
 * mountinfo, the service-naming policy, the bounded caches, and one resource per workload over a
 * shared span pipeline. The same names on real cgroups: test/workload-kernel.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ConfigError, parseCommandLine } from '../receiver/src/config';
import { spanToJson } from '../receiver/src/export/console';
import { CgroupResolver } from '../receiver/src/workload/cgroups';
import { findCgroup2Mounts, findCgroup2Root } from '../receiver/src/workload/mounts';
import { cgroupPathSegments, identifyCgroup, type ContainerIdentity } from '../receiver/src/workload/container-id';
import { parseServiceNameSources, serviceNameFromEnviron, ServiceNamer } from '../receiver/src/workload/naming';
import { WorkloadTracers } from '../receiver/src/workload/tracers';

const ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const UID = '0f3c9a52-7d1e-4b6a-9c2d-5e8f1a2b3c4d';
const UID_ = UID.replace(/-/g, '_');

/** [path as /proc/<pid>/cgroup shows it, what it must say] */
export const LAYOUTS: Array<[string, ContainerIdentity]> = [
  // Docker
  [`/system.slice/docker-${ID}.scope`, { containerId: ID, runtime: 'docker' }],
  [`/docker/${ID}`, { containerId: ID, runtime: 'docker' }],
  [`/user.slice/user-1000.slice/user@1000.service/app.slice/docker-${ID}.scope`, { containerId: ID, runtime: 'docker' }],
  // Podman
  [`/machine.slice/libpod-${ID}.scope`, { containerId: ID, runtime: 'podman' }],
  [`/machine.slice/libpod-${ID}.scope/container`, { containerId: ID, runtime: 'podman' }],
  [`/libpod_parent/libpod-${ID}`, { containerId: ID, runtime: 'podman' }],
  [`/machine.slice/libpod-conmon-${ID}.scope`, {}],
  // Kubernetes, systemd driver: containerd, CRI-O, per QoS class
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, { containerId: ID, runtime: 'containerd', podUid: UID }],
  [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`, { containerId: ID, runtime: 'cri-o', podUid: UID }],
  [`/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`, { containerId: ID, runtime: 'containerd', podUid: UID }],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`, { podUid: UID }],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, { podUid: UID }],
  // Kubernetes, cgroupfs driver
  [`/kubepods/besteffort/pod${UID}/${ID}`, { containerId: ID, runtime: 'containerd', podUid: UID }],
  [`/kubepods/burstable/pod${UID}/crio-${ID}`, { containerId: ID, runtime: 'cri-o', podUid: UID }],
  [`/kubepods/pod${UID}/${ID}`, { containerId: ID, runtime: 'containerd', podUid: UID }],
  [`/kubepods/besteffort/pod${UID}`, { podUid: UID }],
  // Host processes and layouts we do not know: nothing, never a guess
  ['/', {}],
  ['/user.slice/user-0.slice/session-3.scope', {}],
  ['/system.slice/ssh.service', {}],
  [`/system.slice/docker-${ID.slice(0, 63)}.scope`, {}],
  [`/system.slice/docker-${ID.toUpperCase()}.scope`, {}],
  [`/default/${ID}`, {}],
  [`/elsewhere/pod${UID}/${ID}`, {}],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_.slice(0, 30)}.slice/cri-containerd-${ID}.scope`, { containerId: ID, runtime: 'containerd' }],
  [`/system.slice/docker-${ID}.scope.bak`, {}],
  ['', {}],
];

describe('container identity from cgroup v2 path names', () => {
  for (const [p, want] of LAYOUTS) {
    it(p || '(empty)', () => {
      assert.deepEqual(identifyCgroup(cgroupPathSegments(p)), want);
    });
  }

  it('the last three names (all the kernel keeps) say the same as the whole path', () => {
    for (const [p, want] of LAYOUTS) {
      const segments = cgroupPathSegments(p);
      assert.deepEqual(identifyCgroup(segments.slice(-3)), want, p);
    }
  });
});

describe('cgroup2 mount from /proc/self/mountinfo', () => {
  const hybrid = [
    '25 1 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
    '26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
    '27 25 0:25 / /sys/fs/cgroup/cpu rw shared:11 - cgroup cgroup rw,cpu',
  ].join('\n');
  it('finds it on a hybrid host', () => {
    assert.deepEqual(findCgroup2Mounts(hybrid), [{ mountPoint: '/sys/fs/cgroup/unified', root: '/' }]);
  });
  it('prefers the whole hierarchy over a container\'s own subtree; unescapes spaces', () => {
    const text = [
      '40 30 0:24 /kubepods.slice/x /sys/fs/cgroup ro - cgroup2 cgroup2 rw',
      '41 30 0:24 / /host/sys/fs\\040cgroup ro - cgroup2 cgroup2 rw',
    ].join('\n');
    assert.deepEqual(findCgroup2Mounts(text)[0], { mountPoint: '/host/sys/fs cgroup', root: '/' });
  });
  it('the host hierarchy bind-mounted into a container (seen from its cgroup namespace) counts as whole', () => {
    const text = [
      '40 30 0:24 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw',
      '41 30 0:24 /../.. /host/sys/fs/cgroup ro - cgroup2 cgroup2 rw',
    ].join('\n');
    assert.deepEqual(findCgroup2Mounts(text).map((m) => m.mountPoint), ['/sys/fs/cgroup', '/host/sys/fs/cgroup']);
    const dir = mkdtempSync(path.join(tmpdir(), 'mi-'));
    writeFileSync(path.join(dir, 'mountinfo'), '41 30 0:24 /../.. /host/sys/fs/cgroup ro - cgroup2 cgroup2 rw\n42 30 0:24 /kubepods /x ro - cgroup2 cgroup2 rw\n');
    assert.equal(findCgroup2Root(undefined, path.join(dir, 'mountinfo'), false), '/host/sys/fs/cgroup');
    // In a container's own cgroup namespace its "/" mount is its own subtree: the host's is preferred.
    writeFileSync(path.join(dir, 'mountinfo'), '40 30 0:24 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n41 30 0:24 /../.. /host/sys/fs/cgroup ro - cgroup2 cgroup2 rw\n');
    assert.equal(findCgroup2Root(undefined, path.join(dir, 'mountinfo'), true), '/host/sys/fs/cgroup');
    assert.equal(findCgroup2Root(undefined, path.join(dir, 'mountinfo'), false), '/sys/fs/cgroup');
    rmSync(dir, { recursive: true });
  });

  it('none on a cgroup v1 only host', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mi-'));
    writeFileSync(path.join(dir, 'mountinfo'), hybrid.split('\n').filter((l) => !l.includes('cgroup2')).join('\n'));
    assert.equal(findCgroup2Root(undefined, path.join(dir, 'mountinfo'), false), undefined);
    assert.equal(findCgroup2Root('/given', path.join(dir, 'mountinfo')), '/given');
    rmSync(dir, { recursive: true });
  });
});

describe('service-naming policy', () => {
  const fakeProc = (): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'proc-'));
    mkdirSync(path.join(dir, '100'));
    writeFileSync(path.join(dir, '100', 'environ'), Buffer.from('PATH=/bin\0OTEL_SERVICE_NAME=checkout\0HOME=/\0'));
    mkdirSync(path.join(dir, '101'));
    writeFileSync(path.join(dir, '101', 'environ'), Buffer.from('PATH=/bin\0'));
    // 102: a directory where environ should be: reading it fails like EACCES would (not ENOENT).
    mkdirSync(path.join(dir, '102', 'environ'), { recursive: true });
    return dir;
  };

  it('reads OTEL_SERVICE_NAME from an environment block', () => {
    assert.equal(serviceNameFromEnviron(Buffer.from('A=1\0OTEL_SERVICE_NAME=cart\0')), 'cart');
    assert.equal(serviceNameFromEnviron(Buffer.from('XOTEL_SERVICE_NAME=no\0OTEL_SERVICE_NAME=\0')), undefined);
    assert.equal(serviceNameFromEnviron(Buffer.from('OTEL_SERVICE_NAME=last')), 'last');
  });

  it('environ, then the executable in a container, then the agent; failures counted', () => {
    const proc = fakeProc();
    const failures: string[] = [];
    const namer = new ServiceNamer({
      sources: parseServiceNameSources('environ,container,agent'),
      agentServiceName: 'ebpf-otel',
      maxEntries: 10,
      procRoot: proc,
      onEnvironFailure: (r) => failures.push(r),
    });
    assert.equal(namer.nameFor(100, 'java', false), 'checkout');
    assert.equal(namer.nameFor(101, 'nginx', true), 'nginx');
    assert.equal(namer.nameFor(101, 'curl', false), 'ebpf-otel');
    assert.equal(namer.nameFor(102, 'secret', false), 'ebpf-otel');
    assert.equal(namer.nameFor(999, 'gone', true), 'gone');
    assert.deepEqual(failures, ['environ_unreadable', 'process_gone']);
    rmSync(proc, { recursive: true });
  });

  it('exe names host processes too; agent only is the old behaviour', () => {
    const namer = new ServiceNamer({ sources: ['exe'], agentServiceName: 'a', maxEntries: 1 });
    assert.equal(namer.nameFor(1, 'sshd', false), 'sshd');
    assert.equal(new ServiceNamer({ sources: ['agent'], agentServiceName: 'a', maxEntries: 1 }).nameFor(1, 'sshd', true), 'a');
  });

  it('rejects an unknown source by name', () => {
    assert.throws(() => parseServiceNameSources('environ,pod'), /unknown source 'pod'/);
    assert.throws(() => parseServiceNameSources(' , '), /comma-separated/);
  });
});

describe('cgroup resolver cache', () => {
  it('stays bounded under churn and counts evictions; unknown ids are not cached', () => {
    let evicted = 0;
    const resolver = new CgroupResolver({
      root: '/nonexistent',
      kernelNames: (id) => (id % 2n === 0n ? [`docker-${ID.slice(0, 60)}${id.toString(16).padStart(4, '0')}.scope`, 'system.slice', ''] : undefined),
      maxEntries: 100,
      onEvict: () => { evicted++; },
    });
    for (let i = 0n; i < 10_000n; i += 2n) {
      const w = resolver.resolve(i, 0);
      assert.equal(w.containerId?.length, 64);
    }
    assert.equal(resolver.size, 100);
    assert.equal(evicted, 5000 - 100);
    assert.deepEqual(resolver.resolve(3n, 0), {});
    assert.equal(resolver.size, 100);
  });

  it('an id no process can tell about is found by walking the hierarchy (once per interval)', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'cg2-'));
    const dir = path.join(root, 'system.slice', `docker-${ID}.scope`);
    mkdirSync(dir, { recursive: true });
    const failures: string[] = [];
    const resolver = new CgroupResolver({ root, maxEntries: 10, onLookupFailure: (r) => failures.push(r) });
    const ino = statSync(dir, { bigint: true }).ino;
    assert.deepEqual(resolver.resolve(ino, 0), { containerId: ID, runtime: 'docker', path: `/system.slice/docker-${ID}.scope` });
    assert.deepEqual(resolver.resolve(ino + 1000n, 0), {});
    assert.equal(resolver.counts.walks, 1, 'the second miss came within the interval: no second walk');
    assert.deepEqual(failures, ['unknown_cgroup']);
    rmSync(root, { recursive: true });
  });

  it('no cgroup2 mount: nothing, without asking anyone', () => {
    const resolver = new CgroupResolver({ root: undefined, kernelNames: () => { throw new Error('asked'); }, maxEntries: 1 });
    assert.deepEqual(resolver.resolve(5n, 1), {});
  });
});

describe('one resource per workload, one pipeline', () => {
  it('spans of a container and of a host process carry their own resources; a trace spans both', () => {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    const agentResource = resourceFromAttributes({ 'service.name': 'ebpf-otel', 'service.version': '9', 'host.name': 'node-1' });
    const agentProvider = new TracerProvider({ resource: agentResource, spanProcessors: [processor] });
    const names: Record<string, string[]> = { '7': [`cri-containerd-${ID}.scope`, `kubepods-pod${UID_}.slice`, 'kubepods.slice'] };
    const tracers = new WorkloadTracers({
      agentResource,
      agentTracer: agentProvider.getTracer('t'),
      processors: [processor],
      resolver: new CgroupResolver({ root: '/x', kernelNames: (id) => names[id.toString()], maxEntries: 10 }),
      namer: new ServiceNamer({ sources: ['container', 'agent'], agentServiceName: 'ebpf-otel', maxEntries: 10 }),
      maxWorkloads: 1,
      instrumentationVersion: '1',
    });
    const parent = tracers.tracerFor(1, 1n, 'bash').startSpan('bash');
    const child = tracers.tracerFor(2, 7n, 'nginx').startSpan('nginx', {}, trace.setSpan(context.active(), parent));
    child.end();
    parent.end();
    const [c, p] = exporter.getFinishedSpans();
    assert.ok(c && p);
    assert.equal(c.spanContext().traceId, p.spanContext().traceId);
    assert.deepEqual(c.resource.attributes, { 'host.name': 'node-1', 'service.name': 'nginx', 'container.id': ID, 'k8s.pod.uid': UID });
    assert.equal(p.resource.attributes['service.name'], 'ebpf-otel');
    assert.equal(p.resource.attributes['container.id'], undefined);
    assert.deepEqual((spanToJson(c).resource as Record<string, unknown>)['container.id'], ID);
    // Shutting the agent's provider down once shuts the shared processor down once.
    return agentProvider.shutdown();
  });
});

describe('workload flags', () => {
  const config = (argv: string[], env: Record<string, string> = {}) => {
    const parsed = parseCommandLine(argv, env);
    assert.equal(parsed.kind, 'run');
    return (parsed as Extract<typeof parsed, { kind: 'run' }>).config;
  };
  it('defaults: container, agent (environ is opt-in: it keeps CAP_SYS_PTRACE); per-container metrics off; no health port', () => {
    const c = config([]);
    assert.deepEqual(c.serviceNameFrom, ['container', 'agent']);
    assert.equal(c.perContainerMetrics, false);
    assert.equal(c.healthPort, 0);
    assert.equal(c.cgroupRoot, undefined);
  });
  it('flags and their variables', () => {
    const c = config(['--service-name-from', 'exe', '--per-container-metrics', '--health-port', '8686'], { EBPF_OTEL_CGROUP_ROOT: '/host/sys/fs/cgroup' });
    assert.deepEqual(c.serviceNameFrom, ['exe']);
    assert.equal(c.perContainerMetrics, true);
    assert.equal(c.healthPort, 8686);
    assert.equal(c.cgroupRoot, '/host/sys/fs/cgroup');
  });
  it('a bad source or port is named in the error', () => {
    assert.throws(() => parseCommandLine(['--service-name-from', 'environ,podname']), (e: Error) => e instanceof ConfigError && /--service-name-from "environ,podname": unknown source 'podname'/.test(e.message));
    assert.throws(() => parseCommandLine([], { EBPF_OTEL_SERVICE_NAME_FROM: 'x' }), /EBPF_OTEL_SERVICE_NAME_FROM "x": unknown source 'x'/);
    assert.throws(() => parseCommandLine(['--health-port', '70000']), /--health-port "70000": expected a whole number from 0 to 65535/);
  });
});
