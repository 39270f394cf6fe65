/**
 * deploy/kubernetes/ against a real kube-apiserver (and etcd) built from Go modules:
 *   - every object of the manifests is created with ?fieldValidation=Strict (a misspelled field
 *     fails), in kustomization.yaml's order;
 *   - k8sattributes end to end: a Namespace, a Deployment and its ReplicaSet, a Pod bound to a node
 *     whose status lists a container with the id of a real test cgroup. The Collector runs the
 *     shipped gateway configuration (collector-configmap.yaml; only ports, the Jaeger endpoint and
 *     the credentials changed), reads the API server with the token of the manifests' own
 *     ServiceAccount (so their RBAC is what is tested), and must add k8s.pod.name,
 *     k8s.namespace.name and k8s.deployment.name to the agent's spans from that cgroup (checked in
 *     Jaeger) and, through groupbyattrs, to its per-container connect metrics.
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { startAgent, type AgentRun } from './helpers/agent';
import {
  ensureBackends,
  flattenMetrics,
  flattenSpans,
  repoRoot,
  startCollector,
  startJaeger,
  waitFor,
  type CollectorHandle,
  type FlatSpan,
  type JaegerHandle,
} from './helpers/backends';
import { randomContainerId, TestCgroups } from './helpers/cgroups';
import { ensureKubeBinaries, startKube, type KubeHandle } from './helpers/kube';
import { freePort, listen, type Listener } from './helpers/net';

type Obj = Record<string, unknown>;
const manifestDir = join(repoRoot, 'deploy/kubernetes');

function manifestObjects(dir = manifestDir): Obj[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { namespace: string; resources: string[] };
  const objects: Obj[] = [];
  for (const file of kustomization.resources) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const object = doc.toJS() as Obj | null;
      if (!object) continue;
      // What kustomize's `namespace:` does for namespaced objects.
      const metadata = object.metadata as Obj;
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(String(object.kind))) metadata.namespace ??= kustomization.namespace;
      objects.push(object);
    }
  }
  return objects;
}

before(() => {
  ensureBackends();
  ensureKubeBinaries();
});

describe('deploy/kubernetes against a real API server', { timeout: 300_000 }, () => {
  let kube: KubeHandle;

  before(async () => {
    kube = await startKube();
  });
  after(async () => {
    await kube?.stop();
  });

  it('creates every object of the manifests with strict field validation', async () => {
    const objects = manifestObjects();
    assert.deepEqual([...new Set(objects.map((o) => o.kind))].sort(),
      ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Deployment', 'Namespace', 'Service', 'ServiceAccount']);
    for (const object of objects) await kube.create(object);
  });

  it('the gateway tier (deploy/kubernetes/gateway-tier/) too, and its patch of the agent DaemonSet', async () => {
    const tier = join(manifestDir, 'gateway-tier');
    for (const object of manifestObjects(tier)) await kube.create(object);
    const patch = parse(readFileSync(join(tier, 'agent-endpoint-patch.yaml'), 'utf8')) as Obj;
    const r = await kube.request('PATCH', '/apis/apps/v1/namespaces/ebpf-otel/daemonsets/ebpf-otel-agent?fieldValidation=Strict', patch,
      'application/strategic-merge-patch+json');
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 500));
    const env = ((((r.body.spec as Obj).template as Obj).spec as Obj).containers as Array<{ env: Array<{ name: string; value?: string }> }>)[0]?.env ?? [];
    assert.equal(env.find((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value, 'http://ebpf-otel-node-collector.ebpf-otel.svc:4317');
    assert.ok(env.some((e) => e.name === 'EBPF_OTEL_CGROUP_ROOT'), 'the patch keeps the other variables');
  });

  it('refuses a misspelled field (the validation is real)', async () => {
    const daemonSet = manifestObjects().find((o) => o.kind === 'DaemonSet') as Obj;
    const copy = JSON.parse(JSON.stringify(daemonSet)) as { metadata: { name: string }; spec: { template: { spec: Obj } } };
    copy.metadata.name = 'misspelled';
    copy.spec.template.spec.hostPid = true;
    await assert.rejects(kube.create(copy as unknown as Obj), /unknown field "spec.template.spec.hostPid"/);
  });

  it('the agent DaemonSet: host PID, no privileged mode, only added capabilities, read-only host mounts, limits, liveness', () => {
    const ds = manifestObjects().find((o) => o.kind === 'DaemonSet') as { spec: { template: { spec: Record<string, unknown> } } };
    const pod = ds.spec.template.spec as { hostPID: boolean; containers: Array<Record<string, unknown>> };
    assert.equal(pod.hostPID, true);
    const agent = pod.containers[0] as {
      securityContext: { privileged: boolean; capabilities: { drop: string[]; add: string[] } };
      volumeMounts: Array<{ name: string; readOnly?: boolean }>;
      resources: { requests: Obj; limits: Obj };
      livenessProbe: { httpGet: { path: string } };
      args: string[];
    };
    assert.equal(agent.securityContext.privileged, false);
    assert.deepEqual(agent.securityContext.capabilities.drop, ['ALL']);
    // Exactly the documented start-up set (README, "What it needs"), the same as docker-compose's
    // plus DAC_READ_SEARCH (the pod runs as root without DAC_OVERRIDE); no tracefs (tp_btf needs none).
    assert.deepEqual([...agent.securityContext.capabilities.add].sort(), ['BPF', 'DAC_READ_SEARCH', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_RESOURCE']);
    assert.ok(!agent.volumeMounts.some((v) => v.name === 'tracefs'), 'tracefs is not needed');
    for (const m of agent.volumeMounts.filter((v) => v.name !== 'tmp')) assert.equal(m.readOnly, true, `${m.name} is mounted read-write`);
    assert.ok(agent.resources.requests.memory && agent.resources.limits.memory && agent.resources.limits.cpu);
    assert.equal(agent.livenessProbe.httpGet.path, '/healthz');
    assert.ok(agent.args.includes('--health-port'));
  });
});

describe('k8sattributes end to end: agent -> shipped gateway config -> Jaeger', { timeout: 300_000 }, () => {
  let kube: KubeHandle;
  let jaeger: JaegerHandle;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let listener: Listener;
  let groups: TestCgroups;
  let holder: ChildProcess | undefined;
  let pid = 0;
  let since = 0;
  const containerId = randomContainerId();
  const namespace = `shop-${randomBytes(3).toString('hex')}`;
  const deployment = 'checkout';
  const hash = '7c9f6d5b8';
  const podName = `${deployment}-${hash}-x2k4p`;
  const agentService = `e2e-k8s-${process.pid}`;

  before(async () => {
    kube = await startKube();
    // The manifests' RBAC and ServiceAccount: the Collector reads the API with that account's token.
    for (const o of manifestObjects().filter((x) => ['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(String(x.kind)) ||
      (x.kind === 'ServiceAccount' && (x.metadata as Obj).name === 'ebpf-otel-collector'))) {
      await kube.create(o);
    }
    const tokenRequest = await kube.request('POST', '/api/v1/namespaces/ebpf-otel/serviceaccounts/ebpf-otel-collector/token',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
    assert.equal(tokenRequest.status, 201, JSON.stringify(tokenRequest.body));
    const collectorToken = String((tokenRequest.body.status as Obj).token);

    // The workload: Namespace, Deployment -> ReplicaSet -> Pod on node-1, container running.
    await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    await kube.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } });
    const labels = { app: deployment, 'pod-template-hash': hash };
    const template = { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.example/checkout:1.0' }] } };
    const dep = await kube.create({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: deployment, namespace },
      spec: { selector: { matchLabels: { app: deployment } }, template: { ...template, metadata: { labels: { app: deployment } } } },
    });
    const rs = await kube.create({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: {
        name: `${deployment}-${hash}`, namespace, labels,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment, uid: (dep.metadata as Obj).uid, controller: true }],
      },
      spec: { selector: { matchLabels: labels }, template },
    });
    const pod = await kube.create({
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        name: podName, namespace, labels,
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${deployment}-${hash}`, uid: (rs.metadata as Obj).uid, controller: true }],
      },
      spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'registry.example/checkout:1.0' }] },
    });
    const podUid = String((pod.metadata as Obj).uid);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const patched = await kube.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${podName}/status`, {
      status: {
        phase: 'Running',
        podIP: '10.244.1.17',
        podIPs: [{ ip: '10.244.1.17' }],
        startTime: now,
        containerStatuses: [{
          name: 'app', containerID: `containerd://${containerId}`, image: 'registry.example/checkout:1.0',
          imageID: 'registry.example/checkout@sha256:' + 'ab'.repeat(32), ready: true, started: true, restartCount: 0,
          state: { running: { startedAt: now } },
        }],
      },
    }, 'application/merge-patch+json');
    assert.equal(patched.status, 200, JSON.stringify(patched.body));

    // The shipped gateway config, with test ports, Jaeger, a file for metrics and kubeconfig credentials.
    const configMap = manifestObjects().find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> };
    const config = parse(configMap.data['collector.yaml'] as string) as {
      extensions: { health_check: Obj };
      receivers: { otlp: { protocols: { grpc: Obj; http: Obj } } };
      processors: { k8sattributes: Obj };
      exporters: Record<string, Obj>;
      service: { pipelines: { metrics: { exporters: string[] } }; telemetry?: Obj };
    };
    config.extensions.health_check.endpoint = '127.0.0.1:${env:OTELCOL_HEALTH_PORT}';
    config.receivers.otlp.protocols.grpc.endpoint = '127.0.0.1:${env:OTELCOL_OTLP_GRPC_PORT}';
    config.receivers.otlp.protocols.http.endpoint = '127.0.0.1:${env:OTELCOL_OTLP_HTTP_PORT}';
    config.processors.k8sattributes.auth_type = 'kubeConfig';
    (config.exporters['otlp_grpc/traces'] as Obj).endpoint = '127.0.0.1:${env:JAEGER_OTLP_GRPC_PORT}';
    config.exporters['file/metrics'] = { path: '${env:OTELCOL_METRICS_FILE}', format: 'json', flush_interval: '100ms' };
    config.service.pipelines.metrics.exporters = ['file/metrics'];
    config.service.telemetry = { metrics: { level: 'none' } };
    const configFile = join(mkdtempSync(join(tmpdir(), 'ebpf-otel-k8s-')), 'collector.yaml');
    writeFileSync(configFile, stringify(config));

    jaeger = await startJaeger();
    collector = await startCollector({ jaeger, config: configFile, env: { KUBECONFIG: kube.kubeconfig(collectorToken) } });

    const port = await freePort();
    listener = await listen('127.0.0.1', port);
    since = Date.now() - 1000;
    agent = startAgent(
      ['--exporter', 'otlp', '--otlp-endpoint', collector.endpoints.otlpGrpc, '--probes', 'tcp,exec', '--trace-execs', 'none',
        '--port', String(port), '--per-container-metrics', '--metric-interval-ms', '1000', '--service-name-from', 'environ,container,agent'],
      { OTEL_SERVICE_NAME: agentService },
    );
    await agent.waitForStderr(/running/);

    groups = new TestCgroups();
    const group = groups.make(`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUid.replace(/-/g, '_')}.slice/cri-containerd-${containerId}.scope`);
    const code = 'import os,socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); print(os.getpid(), flush=True); sys.stdin.read()';
    holder = group.spawn('python3', ['-c', code, String(port)], { env: { PATH: '/usr/bin:/bin', OTEL_SERVICE_NAME: 'checkout' }, stdio: ['pipe', 'pipe', 'inherit'] });
    pid = await new Promise<number>((resolve, reject) => {
      holder?.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      holder?.once('exit', (c) => reject(new Error(`workload exited ${c}`)));
    });
  });

  after(async () => {
    if (holder) {
      holder.stdin?.end();
      await new Promise((r) => (holder?.exitCode !== null ? r(undefined) : holder.once('exit', r)));
    }
    await agent?.stop();
    listener?.stop();
    groups?.removeAll();
    await collector?.stop();
    await jaeger?.stop();
    await kube?.stop();
  });

  it('spans from the pod\'s cgroup carry the pod, namespace and deployment in Jaeger', async () => {
    const spans = await waitFor(
      async () => flattenSpans(await jaeger.traces('checkout', since)).filter((s) => s.attributes['process.pid'] === pid),
      (s) => s.some((x) => x.resource['k8s.pod.name'] !== undefined),
      { timeoutMs: 90_000, intervalMs: 1000, what: `the span of pid ${pid} with k8s attributes in Jaeger (collector log: ${collector.logFile})` },
    );
    const span = spans.find((x) => x.resource['k8s.pod.name'] !== undefined) as FlatSpan;
    assert.equal(span.resource['container.id'], containerId);
    assert.equal(span.resource['k8s.pod.name'], podName);
    assert.equal(span.resource['k8s.namespace.name'], namespace);
    assert.equal(span.resource['k8s.deployment.name'], deployment);
    assert.equal(span.resource['k8s.container.name'], 'app');
  });

  it('per-container connect metrics: container.id promoted to the resource, then k8s attributes added', async () => {
    const point = await waitFor(
      () => Promise.resolve(flattenMetrics(collector.readMetrics()).filter((p) => p.name === 'ebpf_otel.tcp.connect.attempts' && p.resource['container.id'] === containerId)),
      (points) => points.some((p) => p.resource['k8s.pod.name'] !== undefined),
      { timeoutMs: 60_000, intervalMs: 500, what: 'a connect metric of the container with k8s attributes' },
    );
    const p = point.find((x) => x.resource['k8s.pod.name'] !== undefined);
    assert.ok(p);
    assert.equal(p.resource['k8s.pod.name'], podName);
    assert.equal(p.resource['k8s.deployment.name'], deployment);
    assert.equal(p.attributes['container.id'], undefined, 'moved to the resource, not left on the point');
    assert.equal(p.kind === 'sum' ? p.value : undefined, 1);
    // The agent's own health metrics keep the agent's own resource.
    const health = flattenMetrics(collector.readMetrics()).filter((x) => x.name === 'ebpf_otel.events.received');
    assert.ok(health.length > 0);
    for (const h of health) {
      assert.equal(h.resource['service.name'], agentService);
      assert.equal(h.resource['container.id'], undefined);
    }
  });
});
