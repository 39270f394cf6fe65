/**
 * Workloads in the real kernel: processes moved into real cgroup v2 groups, named as each runtime
 * and kubelet driver names them (mkdir under the cgroup2 mount, pid written to cgroup.procs), make
 * connects. Checked:
 *   - the exec probe records every group's names in the kernel, and they still name the container
 *     after the group is removed (a short-lived container);
 *   - end to end through the Collector into Jaeger: container.id and k8s.pod.uid are resource
 *     attributes of their spans, a host process gets none, service names follow the policy
 *     (OTEL_SERVICE_NAME from the process's environment, else the executable in a container, else
 *     the agent's own), a short-lived container is named;
 *   - without a cgroup2 mount: one warning, no container attributes, connects still traced;
 *   - a --cgroup-root that is not a directory: a clear error, exit 1.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import path from 'node:path';
import { BpfObject } from '../addon/lib/index';
import { ProcProbe } from '../receiver/src/probes/proc';
import { readPerCpuCounters, u16, u8 } from '../receiver/src/probes/common';
import { insertOverflowKeys, TCP_STAT_COUNT, TcpStat } from '../receiver/src/probes/tcp';
import { TCP_OUTCOME_COUNT } from '../receiver/src/decode/tcp-connect';
import { decodeHistEntry } from '../receiver/src/tcp/metrics';
import { identifyCgroup, type ContainerIdentity } from '../receiver/src/workload/container-id';
import { attrs, startAgent, startAgentIn, type AgentRun } from './helpers/agent';
import { ensureBackends, flattenSpans, startCollector, startJaeger, waitFor, type CollectorHandle, type FlatSpan, type JaegerHandle } from './helpers/backends';
import { randomContainerId, randomPodUid, TestCgroups, type TestCgroup } from './helpers/cgroups';
import { freePort, listen, TCPCTL, type Listener } from './helpers/net';
import { BPF_DIR } from './helpers/ring-capture';

/** Connects once to 127.0.0.1:PORT, prints its pid, then holds until stdin closes (so /proc/<pid> stays). */
const HOLDING_CONNECT = 'import os,socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); print(os.getpid(), flush=True); sys.stdin.read()';

function holdingConnect(group: TestCgroup, port: number, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; pid: number }> {
  const child = group.spawn('python3', ['-c', HOLDING_CONNECT, String(port)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve({ child, pid: Number(d.toString().trim()) }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`connect in ${group.dir} exited ${code} before connecting`)));
  });
}

interface Layout {
  label: string;
  path: string;
  want: ContainerIdentity;
}

function layouts(): Layout[] {
  const id = randomContainerId;
  const uid = randomPodUid;
  const out: Layout[] = [];
  const add = (label: string, make: (cid: string, pod: string) => [string, ContainerIdentity]): void => {
    const cid = id();
    const pod = uid();
    const [p, want] = make(cid, pod);
    out.push({ label, path: p, want });
  };
  add('docker, systemd', (c) => [`system.slice/docker-${c}.scope`, { containerId: c, runtime: 'docker' }]);
  add('docker, cgroupfs', (c) => [`docker/${c}`, { containerId: c, runtime: 'docker' }]);
  add('podman, systemd', (c) => [`machine.slice/libpod-${c}.scope/container`, { containerId: c, runtime: 'podman' }]);
  add('podman, cgroupfs', (c) => [`libpod_parent/libpod-${c}`, { containerId: c, runtime: 'podman' }]);
  add('containerd (k8s), systemd', (c, p) => [
    `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${p.replace(/-/g, '_')}.slice/cri-containerd-${c}.scope`,
    { containerId: c, runtime: 'containerd', podUid: p },
  ]);
  add('CRI-O (k8s), systemd', (c, p) => [
    `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${p.replace(/-/g, '_')}.slice/crio-${c}.scope`,
    { containerId: c, runtime: 'cri-o', podUid: p },
  ]);
  add('containerd (k8s), cgroupfs', (c, p) => [`kubepods/besteffort/pod${p}/${c}`, { containerId: c, runtime: 'containerd', podUid: p }]);
  add('CRI-O (k8s), cgroupfs', (c, p) => [`kubepods/burstable/pod${p}/crio-${c}`, { containerId: c, runtime: 'cri-o', podUid: p }]);
  add('a host service', () => ['system.slice/cron.service', {}]);
  return out;
}

describe('the kernel records cgroup names at exec: containers stay named after their group is gone', () => {
  let probe: ProcProbe;
  let groups: TestCgroups;

  before(() => {
    probe = ProcProbe.load(BPF_DIR, { filterTgid: 0, excludeTgid: 0, followAll: true });
    groups = new TestCgroups();
  });
  after(() => {
    probe?.close();
    groups?.removeAll();
  });

  for (const layout of layouts()) {
    it(layout.label, async () => {
      const group = groups.make(layout.path);
      const id = group.id;
      const { code } = await group.run('/bin/true', []);
      assert.equal(code, 0);
      group.remove(); // the container is gone before anyone looked it up
      const names = probe.cgroupNames(id);
      assert.ok(names, `no names recorded for cgroup ${id} (${layout.path})`);
      assert.equal(names[0], layout.path.split('/').pop());
      assert.deepEqual(identifyCgroup([...names].reverse()), layout.want);
    });
  }
});

describe('per-container connect histogram in the kernel', () => {
  it('keys by the connecting task\'s cgroup id; a full table folds into the overflow key and counts it', async () => {
    const port = await freePort();
    const listener = await listen('127.0.0.1', port);
    const groups = new TestCgroups();
    const object = BpfObject.open(path.join(BPF_DIR, 'tcpconnect.bpf.o'));
    let link: { destroy(): void } | undefined;
    try {
      object.setGlobal('filter_dport', u16(port));
      object.setGlobal('per_cgroup_histogram', u8(true));
      // Room for the overflow keys and three more.
      object.setMapMaxEntries('tcp_hist', 2 * TCP_OUTCOME_COUNT + 3);
      object.load();
      insertOverflowKeys(object.map('tcp_hist'));
      link = object.attach('inet_sock_set_state');
      const ids: bigint[] = [];
      for (let i = 0; i < 5; i++) {
        const group = groups.make(`system.slice/docker-${randomContainerId()}.scope`);
        ids.push(group.id);
        const { code } = await group.run('python3', [TCPCTL, 'connect', '127.0.0.1', String(port)], { PATH: '/usr/bin:/bin' });
        assert.equal(code, 0);
      }
      const entries = object.map('tcp_hist').entries().map(([k, v]) => decodeHistEntry(k, v)).filter((e) => e.count > 0n);
      const histFull = readPerCpuCounters(object.map('stats'), TCP_STAT_COUNT)[TcpStat.HistFull] as bigint;
      const keyed = entries.filter((e) => e.cgroupId !== 0n);
      assert.deepEqual(keyed.map((e) => e.cgroupId).sort(), ids.slice(0, 3).sort(), 'the first three groups keep their own keys');
      for (const e of keyed) {
        assert.equal(e.dport, port);
        assert.equal(e.count, 1n);
      }
      // The other two: folded into the (IPv4, established) overflow key, counted.
      const folded = entries.filter((e) => e.cgroupId === 0n);
      assert.equal(folded.length, 1);
      assert.equal(folded[0]?.dport, 0);
      assert.equal(folded[0]?.count, 2n);
      assert.equal(histFull, 2n);
    } finally {
      link?.destroy();
      object.close();
      listener.stop();
      groups.removeAll();
    }
  });
});

before(() => {
  ensureBackends();
});

describe('e2e: one resource per workload, in Jaeger', { timeout: 240_000 }, () => {
  const agentService = `e2e-workload-${process.pid}-${Date.now()}`;
  const envService = `checkout-${process.pid}`;
  let jaeger: JaegerHandle;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let listener: Listener;
  let port: number;
  let groups: TestCgroups;
  const holders: ChildProcess[] = [];
  const dockerId = randomContainerId();
  const k8sId = randomContainerId();
  const k8sPod = randomPodUid();
  const shortId = randomContainerId();
  const shortPod = randomPodUid();
  const pids = { docker: 0, k8s: 0, host: 0, short: 0 };
  let since = 0;

  before(async () => {
    jaeger = await startJaeger();
    collector = await startCollector({ jaeger });
    port = await freePort();
    listener = await listen('127.0.0.1', port);
    groups = new TestCgroups();
    since = Date.now() - 1000;
    agent = startAgent(
      ['--exporter', 'otlp,jsonl', '--otlp-endpoint', collector.endpoints.otlpGrpc, '--probes', 'tcp,exec', '--trace-execs', 'none', '--port', String(port), '--service-name-from', 'environ,container,agent'],
      { OTEL_SERVICE_NAME: agentService },
    );
    await agent.waitForStderr(/running/);

    const env = { PATH: '/usr/bin:/bin' };
    const docker = groups.make(`system.slice/docker-${dockerId}.scope`);
    const k8s = groups.make(`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${k8sPod.replace(/-/g, '_')}.slice/cri-containerd-${k8sId}.scope`);
    const d = await holdingConnect(docker, port, env);
    const k = await holdingConnect(k8s, port, { ...env, OTEL_SERVICE_NAME: envService });
    holders.push(d.child, k.child);
    pids.docker = d.pid;
    pids.k8s = k.pid;

    const short = groups.make(`kubepods/besteffort/pod${shortPod}/${shortId}`);
    const s = await short.run('python3', [TCPCTL, 'connect', '127.0.0.1', String(port)], env);
    pids.short = (JSON.parse(s.stdout) as { pid: number }).pid;
    short.remove(); // gone before the agent reads the event

    pids.host = (JSON.parse(execFileSync('python3', [TCPCTL, 'connect', '127.0.0.1', String(port)], { encoding: 'utf8' })) as { pid: number }).pid;
  });

  after(async () => {
    for (const h of holders) {
      h.stdin?.end();
      await new Promise((r) => (h.exitCode !== null ? r(undefined) : h.once('exit', r)));
    }
    await agent?.stop();
    listener?.stop();
    groups?.removeAll();
    await collector?.stop();
    await jaeger?.stop();
  });

  const spanOf = async (service: string, pid: number): Promise<FlatSpan> => {
    const found = await waitFor(
      async () => flattenSpans(await jaeger.traces(service, since)).filter((s) => s.name === 'tcp connect' && s.attributes['process.pid'] === pid),
      (s) => s.length > 0,
      { timeoutMs: 60_000, intervalMs: 500, what: `the connect span of pid ${pid} under service ${service} in Jaeger\n${agent.stderr()}` },
    );
    return found[0] as FlatSpan;
  };

  it('a Docker container: container.id on the resource, named by its executable', async () => {
    const span = await spanOf('python3', pids.docker);
    assert.equal(span.resource['container.id'], dockerId);
    assert.equal(span.resource['k8s.pod.uid'], undefined);
    assert.equal(span.resource['service.name'], 'python3');
    assert.ok(span.resource['host.name'], 'host attributes kept');
  });

  it('a Kubernetes container: container.id and k8s.pod.uid; OTEL_SERVICE_NAME from its environment', async () => {
    const span = await spanOf(envService, pids.k8s);
    assert.equal(span.resource['container.id'], k8sId);
    assert.equal(span.resource['k8s.pod.uid'], k8sPod);
  });

  it('a short-lived container whose group was removed is still named', async () => {
    const span = await spanOf('python3', pids.short);
    assert.equal(span.resource['container.id'], shortId);
    assert.equal(span.resource['k8s.pod.uid'], shortPod);
  });

  it('a host process gets no container attributes and keeps the agent\'s service', async () => {
    const span = await spanOf(agentService, pids.host);
    assert.equal(span.resource['container.id'], undefined);
    assert.equal(span.resource['k8s.pod.uid'], undefined);
    assert.equal(span.resource['service.version'] !== undefined, true, 'the agent\'s own resource');
  });

  it('jsonl prints each span\'s resource', async () => {
    const line = await agent.waitForJson((o) => attrs(o)['process.pid'] === pids.k8s);
    const resource = line.resource as Record<string, unknown>;
    assert.equal(resource['service.name'], envService);
    assert.equal(resource['container.id'], k8sId);
  });
});

describe('edges', { timeout: 120_000 }, () => {
  it('no cgroup2 mount: one warning, no container attributes, connects still traced', async () => {
    const groups = new TestCgroups();
    const port = await freePort();
    const listener = await listen('127.0.0.1', port);
    // The agent in its own mount namespace where the cgroup2 hierarchy is not mounted (a v1-only host).
    const run = startAgentIn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `umount -l '${groups.root}' && exec "$0" "$@"`]);
    const agent = run(['--exporter', 'jsonl', '--probes', 'tcp,exec', '--port', String(port)]);
    try {
      await agent.waitForStderr(/running/);
      const id = randomContainerId();
      const group = groups.make(`system.slice/docker-${id}.scope`);
      const { stdout } = await group.run('python3', [TCPCTL, 'connect', '127.0.0.1', String(port)], { PATH: '/usr/bin:/bin' });
      const pid = (JSON.parse(stdout) as { pid: number }).pid;
      const line = await agent.waitForJson((o) => attrs(o)['process.pid'] === pid);
      assert.equal((line.resource as Record<string, unknown>)['container.id'], undefined);
      assert.equal(agent.stderr().match(/no cgroup v2 mount/g)?.length, 1, agent.stderr());
    } finally {
      await agent.stop();
      listener.stop();
      groups.removeAll();
    }
  });

  it('a trace that crosses from the host into a container stays one trace, each span under its own resource', async () => {
    const groups = new TestCgroups();
    const id = randomContainerId();
    const group = groups.make(`system.slice/docker-${id}.scope`);
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'exec', '--trace-execs', 'all', '--service-name-from', 'container,agent'], { OTEL_SERVICE_NAME: 'host-agent' });
    try {
      await agent.waitForStderr(/running/);
      // bash (host) forks a subshell that moves into the container's group and execs sleep there.
      const outer = spawn('bash', ['-c', `( echo $BASHPID > '${group.dir}/cgroup.procs'; exec /bin/sleep 0.1 ); exit 0`], { stdio: 'ignore' });
      await new Promise((r) => outer.once('exit', r));
      const parent = await agent.waitForJson((o) => attrs(o)['process.pid'] === outer.pid && o.name === 'bash');
      const child = await agent.waitForJson((o) => o.parentSpanId === parent.spanId && o.name === 'sleep');
      assert.equal(child.traceId, parent.traceId);
      assert.equal((child.resource as Record<string, unknown>)['container.id'], id);
      assert.equal((child.resource as Record<string, unknown>)['service.name'], 'sleep');
      assert.equal((parent.resource as Record<string, unknown>)['container.id'], undefined);
      assert.equal((parent.resource as Record<string, unknown>)['service.name'], 'host-agent');
    } finally {
      await agent.stop();
      groups.removeAll();
    }
  });

  it('--health-port: GET /healthz answers 200 while the agent runs', async () => {
    const port = await freePort();
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'exec', '--health-port', String(port)]);
    try {
      await agent.waitForStderr(/running/);
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(ok.status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    } finally {
      await agent.stop();
    }
  });

  it('--cgroup-root that is not a directory: the problem and the fix, exit 1', async () => {
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp', '--cgroup-root', '/nonexistent/cgroup']);
    const code = await agent.exited;
    assert.equal(code, 1);
    assert.match(agent.stderr(), /--cgroup-root \/nonexistent\/cgroup: not a directory; give the host's cgroup v2 mount/);
  });
});
