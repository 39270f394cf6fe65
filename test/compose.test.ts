// docker-compose.yml cannot run here (no Docker engine), so its structure is checked instead:
// the services and their ports, the agent's privileges and mounts, pinned images, that every file
// it mounts exists, and that the configs it wires together agree with each other (collector
// endpoints vs. service names, Prometheus scrape target vs. exporter port, Grafana data sources
// vs. services, dashboard queries vs. the metric names the agent exports).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

import {
  METRIC_DECODE_ERRORS,
  METRIC_DNS_LOOKUPS,
  METRIC_EVENTS_LOST,
  METRIC_EVENTS_RECEIVED,
  METRIC_SPANS_DROPPED,
  METRIC_SPANS_EXPORTED,
  METRIC_SPANS_SAMPLED_OUT,
  METRIC_TCP_CONNECT_ATTEMPTS,
  METRIC_TCP_CONNECT_DURATION,
} from '../receiver/src/semconv';
import { repoRoot } from './helpers/backends';

type Yaml = Record<string, unknown>;

function isRecord(value: unknown): value is Yaml {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function loadYaml(relative: string): Yaml {
  const doc: unknown = parse(readFileSync(join(repoRoot, relative), 'utf8'));
  assert.ok(isRecord(doc), `${relative} is not a YAML mapping`);
  return doc;
}

function record(value: unknown, what: string): Yaml {
  assert.ok(isRecord(value), `${what} should be a mapping, got ${JSON.stringify(value)}`);
  return value;
}

function strings(value: unknown, what: string): string[] {
  assert.ok(Array.isArray(value) && value.every((v) => typeof v === 'string'), `${what} should be a list of strings`);
  return value as string[];
}

const compose = loadYaml('docker-compose.yml');
const services = record(compose['services'], 'services');
const service = (name: string): Yaml => record(services[name], `service ${name}`);

/** "${env:NAME:-default}" -> default (or the value `env` gives NAME). */
function resolveEnv(text: string, env: Record<string, string> = {}): string {
  return text.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => {
    return env[name] ?? fallback ?? '';
  });
}

/** Compose's own interpolation "${NAME:-default}" -> default (or the value `env` gives NAME). */
function resolveCompose(text: string, env: Record<string, string> = {}): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => env[name] ?? fallback ?? '');
}

function serviceEnv(name: string): Record<string, string> {
  const env = service(name)['environment'];
  if (env === undefined) return {};
  return Object.fromEntries(Object.entries(record(env, `${name}.environment`)).map(([k, v]) => [k, String(v)]));
}

/** Container ports published to the host: "HOST:CONTAINER" -> {host, container}. */
function publishedPorts(name: string): { host: number; container: number }[] {
  const ports = service(name)['ports'];
  if (ports === undefined) return [];
  return strings(ports, `${name}.ports`).map((p) => {
    const m = /^(?:[\d.]+:)?(\d+):(\d+)(?:\/(?:tcp|udp))?$/.exec(p);
    assert.ok(m, `${name}: port "${p}" should be "HOST:CONTAINER"`);
    return { host: Number(m[1]), container: Number(m[2]) };
  });
}

/** Bind mounts "SRC:DST[:ro]". */
function mounts(name: string): { source: string; target: string; readOnly: boolean }[] {
  const volumes = service(name)['volumes'];
  if (volumes === undefined) return [];
  return strings(volumes, `${name}.volumes`).map((v) => {
    const [source, target, mode] = v.split(':');
    assert.ok(source && target, `${name}: volume "${v}" should be SOURCE:TARGET[:ro]`);
    return { source, target, readOnly: mode === 'ro' };
  });
}

describe('docker-compose.yml', () => {
  it('has the agent and the backend services', () => {
    assert.deepEqual(Object.keys(services).sort(), ['agent', 'gateway-1', 'gateway-2', 'grafana', 'jaeger', 'node-collector', 'otel-collector', 'prometheus', 'tempo']);
  });

  it('pins every image to a version (no :latest, no untagged image)', () => {
    for (const [name, raw] of Object.entries(services)) {
      const svc = record(raw, name);
      if (svc['build'] !== undefined) continue;
      const image = svc['image'];
      assert.equal(typeof image, 'string', `${name} needs an image or a build`);
      const tag = /:([^/:@]+)$/.exec(image as string)?.[1];
      assert.ok(tag !== undefined, `${name}: image ${String(image)} has no tag`);
      assert.notEqual(tag, 'latest', `${name}: image ${String(image)} is not pinned`);
      assert.match(tag, /\d+\.\d+/, `${name}: tag ${tag} should name a version`);
    }
  });

  it('the collector image matches the collector the tests build (same component names)', () => {
    const script = readFileSync(join(repoRoot, 'scripts/build-backends.sh'), 'utf8');
    const built = /^OTELCOL_VERSION=v(\S+)/m.exec(script)?.[1];
    assert.equal(service('otel-collector')['image'], `otel/opentelemetry-collector-contrib:${built}`);
    const jaegerBuilt = /^JAEGER_V2_VERSION=v(\S+)/m.exec(script)?.[1];
    assert.equal(service('jaeger')['image'], `jaegertracing/jaeger:${jaegerBuilt}`);
    // Prometheus 3.x is published as Go module v0.3MM.P: v0.316.0 is Prometheus 3.16.0.
    const promModule = /^PROMETHEUS_MODULE_VERSION=v0\.3(\d\d)\.(\d+)/m.exec(script);
    assert.ok(promModule, 'PROMETHEUS_MODULE_VERSION in scripts/build-backends.sh');
    assert.equal(service('prometheus')['image'], `prom/prometheus:v3.${Number(promModule[1])}.${promModule[2]}`);
  });

  it('publishes every port on 127.0.0.1 only', () => {
    for (const name of Object.keys(services)) {
      const ports = service(name)['ports'];
      if (ports === undefined) continue;
      for (const p of strings(ports, `${name}.ports`)) assert.match(p, /^127\.0\.0\.1:/, `${name}: ${p} is published on every interface`);
    }
  });

  it('has no anonymous Grafana admin and no Prometheus lifecycle API', () => {
    const grafana = serviceEnv('grafana');
    assert.notEqual(grafana['GF_AUTH_ANONYMOUS_ENABLED'], 'true');
    assert.notEqual(grafana['GF_AUTH_DISABLE_LOGIN_FORM'], 'true');
    assert.match(grafana['GF_SECURITY_ADMIN_PASSWORD'] ?? '', /^\$\{GRAFANA_ADMIN_PASSWORD:\?/, 'the admin password must be required, not defaulted');
    assert.ok(!strings(service('prometheus')['command'], 'prometheus.command').some((a) => a.includes('enable-lifecycle')));
  });

  it('publishes the documented ports, each host port once', () => {
    const expected: Record<string, number[]> = {
      'otel-collector': [4317, 4318, 8889, 13133],
      jaeger: [16686],
      tempo: [3200],
      prometheus: [9090],
      grafana: [3000],
    };
    const seen = new Map<number, string>();
    for (const name of Object.keys(services)) {
      for (const { host } of publishedPorts(name)) {
        assert.ok(!seen.has(host), `host port ${host} published by ${name} and ${seen.get(host)}`);
        seen.set(host, name);
      }
    }
    for (const [name, ports] of Object.entries(expected)) {
      assert.deepEqual(publishedPorts(name).map((p) => p.container).sort((a, b) => a - b), ports, name);
    }
  });

  it('gives the agent what eBPF needs: host PID namespace, capabilities, BTF, and no tracefs (tp_btf needs none)', () => {
    const agent = service('agent');
    assert.equal(agent['pid'], 'host');
    // Exactly the documented start-up capabilities, nothing else, and no way to gain more.
    assert.notEqual(agent['privileged'], true, 'the agent must not be privileged');
    assert.deepEqual(strings(agent['cap_drop'], 'agent.cap_drop'), ['ALL']);
    assert.deepEqual(strings(agent['cap_add'], 'agent.cap_add').sort(), ['BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_RESOURCE']);
    assert.ok(strings(agent['security_opt'], 'agent.security_opt').includes('no-new-privileges:true'));
    const byTarget = new Map(mounts('agent').map((m) => [m.target, m]));
    assert.equal(byTarget.get('/sys/kernel/btf')?.source, '/sys/kernel/btf');
    assert.equal(byTarget.get('/sys/kernel/btf')?.readOnly, true);
    assert.equal(byTarget.get('/sys/kernel/tracing'), undefined, 'tracefs is not needed: every tracepoint is attached as tp_btf');
    assert.equal(resolveCompose(serviceEnv('agent')['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? ''), 'http://otel-collector:4317');
  });

  it('builds the agent from the Dockerfile at the repo root, which runs npm start on Debian 12', () => {
    assert.equal(service('agent')['build'], '.');
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^FROM debian:12[.\d]*-slim$/m);
    assert.match(dockerfile, /^CMD \["npm", "start"\]$/m);
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    assert.ok(pkg.scripts?.['start'], 'package.json needs a "start" script for the image CMD');
  });

  it('mounts only files and folders that exist in the repo', () => {
    for (const name of Object.keys(services)) {
      for (const { source } of mounts(name)) {
        if (!source.startsWith('./')) continue;
        assert.ok(existsSync(join(repoRoot, source)), `${name} mounts ${source}, which does not exist`);
      }
    }
  });

  it('starts the collector with the mounted otel-config/collector.yaml', () => {
    const collector = service('otel-collector');
    const command = strings(collector['command'], 'otel-collector.command').join(' ');
    const mount = mounts('otel-collector').find((m) => m.source === './otel-config/collector.yaml');
    assert.ok(mount, 'collector.yaml is not mounted');
    assert.ok(command.includes(`--config=${mount.target}`), `command "${command}" does not load ${mount.target}`);
    const tempo = strings(service('tempo')['command'], 'tempo.command').join(' ');
    assert.ok(tempo.includes(`-config.file=${mounts('tempo')[0]?.target}`));
    const prometheus = strings(service('prometheus')['command'], 'prometheus.command').join(' ');
    assert.ok(prometheus.includes(`--config.file=${mounts('prometheus')[0]?.target}`));
  });
});

describe('configs wired by docker-compose.yml agree', () => {
  const collectorYaml = readFileSync(join(repoRoot, 'otel-config/collector.yaml'), 'utf8');
  const collectorConfig = record(parse(resolveEnv(collectorYaml, serviceEnv('otel-collector'))), 'collector.yaml');
  const exporters = record(collectorConfig['exporters'], 'collector exporters');

  it('the collector sends traces to the jaeger and tempo services on their OTLP gRPC port', () => {
    const pipelines = record(record(collectorConfig['service'], 'service')['pipelines'], 'pipelines');
    const traceExporters = strings(record(pipelines['traces'], 'traces')['exporters'], 'traces exporters');
    const targets = traceExporters.map((name) => String(record(exporters[name], name)['endpoint']));
    assert.deepEqual(targets.sort(), ['jaeger:4317', 'tempo:4317']);
    const tempo = loadYaml('deploy/tempo.yaml');
    assert.match(JSON.stringify(tempo), /"endpoint":"0\.0\.0\.0:4317"/);
  });

  it('Prometheus scrapes the port the collector\'s prometheus exporter listens on', () => {
    const endpoint = String(record(exporters['prometheus'], 'prometheus exporter')['endpoint']);
    const port = endpoint.split(':').pop();
    const prom = loadYaml('deploy/prometheus.yml');
    const jobs = prom['scrape_configs'] as { static_configs: { targets: string[] }[] }[];
    const targets = jobs.flatMap((j) => j.static_configs.flatMap((s) => s.targets));
    assert.ok(targets.includes(`otel-collector:${port}`), `targets ${targets.join(', ')} miss otel-collector:${port}`);
  });

  it('the collector config defaults match the compose ports without any environment', () => {
    const defaults = record(parse(resolveEnv(collectorYaml)), 'collector.yaml');
    const receivers = JSON.stringify(defaults['receivers']);
    assert.match(receivers, /0\.0\.0\.0:4317/);
    assert.match(receivers, /0\.0\.0\.0:4318/);
    assert.match(JSON.stringify(defaults['extensions']), /0\.0\.0\.0:13133/);
  });

  const datasources = (loadYaml('deploy/grafana/provisioning/datasources/datasources.yaml')['datasources'] as {
    uid: string;
    type: string;
    url: string;
  }[]);

  it('Grafana data sources point at compose services', () => {
    const byType = new Map(datasources.map((d) => [d.type, d]));
    assert.equal(byType.get('prometheus')?.url, 'http://prometheus:9090');
    assert.equal(byType.get('tempo')?.url, 'http://tempo:3200');
    assert.equal(byType.get('jaeger')?.url, 'http://jaeger:16686');
    for (const d of datasources) {
      const host = new URL(d.url).hostname;
      assert.ok(host in services, `data source ${d.uid} points at ${host}, not a compose service`);
    }
  });

  it('the dashboard provider folder is where the dashboards are mounted', () => {
    const providers = loadYaml('deploy/grafana/provisioning/dashboards/dashboards.yaml')['providers'] as { options: { path: string } }[];
    const mount = mounts('grafana').find((m) => m.source === './deploy/grafana/dashboards');
    assert.equal(providers[0]?.options.path, mount?.target);
  });

  // The collector's Prometheus exporter: dots become underscores, a unit suffix is added
  // ("s" -> _seconds; {annotations} are dropped), counters end in _total, histograms expose
  // _bucket/_sum/_count. The smoke test in otel-config.test.ts checks this on the real exporter.
  const promBase = (name: string, unit = ''): string => name.replace(/\./g, '_') + (unit === 's' ? '_seconds' : '');
  const exportedNames = new Set<string>([
    ...['_bucket', '_sum', '_count'].map((s) => promBase(METRIC_TCP_CONNECT_DURATION, 's') + s),
    ...[METRIC_TCP_CONNECT_ATTEMPTS, METRIC_EVENTS_RECEIVED, METRIC_EVENTS_LOST, METRIC_DECODE_ERRORS, METRIC_SPANS_DROPPED,
      METRIC_SPANS_SAMPLED_OUT, METRIC_SPANS_EXPORTED, METRIC_DNS_LOOKUPS].map((m) => `${promBase(m)}_total`),
  ]);

  const dashboardDir = join(repoRoot, 'deploy/grafana/dashboards');
  const dashboards = readdirSync(dashboardDir).filter((f) => f.endsWith('.json'));

  it('has dashboards', () => {
    assert.ok(dashboards.length > 0);
  });

  for (const file of dashboards) {
    it(`dashboard ${file} uses provisioned data sources and only metrics the agent exports`, () => {
      assert.ok(statSync(join(dashboardDir, file)).size > 0);
      const dashboard = JSON.parse(readFileSync(join(dashboardDir, file), 'utf8')) as {
        uid: string;
        panels: { title: string; datasource?: { uid: string }; targets?: { expr?: string; datasource?: { uid: string } }[] }[];
        templating?: { list: { definition?: string }[] };
      };
      assert.ok(dashboard.uid);
      const uids = new Set(datasources.map((d) => d.uid));
      const exprs: string[] = (dashboard.templating?.list ?? []).map((v) => v.definition ?? '');
      for (const panel of dashboard.panels) {
        if (panel.datasource) assert.ok(uids.has(panel.datasource.uid), `${panel.title}: unknown data source ${panel.datasource.uid}`);
        for (const target of panel.targets ?? []) {
          if (target.datasource) assert.ok(uids.has(target.datasource.uid), `${panel.title}: unknown data source`);
          if (target.expr !== undefined) exprs.push(target.expr);
        }
      }
      // Metric names only: drop label matchers {...} and grouping clauses by (...) first.
      const metricText = (e: string): string => e.replace(/\{[^}]*\}/g, '').replace(/\b(by|without)\s*\([^)]*\)/g, '');
      const used = new Set(exprs.flatMap((e) => metricText(e).match(/\bebpf_otel_[a-z0-9_]+/g) ?? []));
      assert.ok(used.size > 0, 'dashboard queries no agent metric');
      for (const name of used) {
        assert.ok(exportedNames.has(name), `${file} queries ${name}, which the agent does not export (known: ${[...exportedNames].join(', ')})`);
      }
      // The main agent metrics are on the dashboard.
      for (const name of ['ebpf_otel_tcp_connect_duration_seconds_bucket', 'ebpf_otel_tcp_connect_attempts_total', 'ebpf_otel_events_lost_total']) {
        assert.ok(used.has(name), `${file} does not show ${name}`);
      }
    });
  }
});

describe('docker-compose.yml profile gateway-tier (node-local collector, two gateways)', () => {
  const tierServices = ['node-collector', 'gateway-1', 'gateway-2'];
  const otelcolVersion = /^OTELCOL_VERSION=v(\S+)/m.exec(readFileSync(join(repoRoot, 'scripts/build-backends.sh'), 'utf8'))?.[1];

  it('its services only start with the profile, on the collector release the tests build', () => {
    for (const name of tierServices) {
      assert.deepEqual(service(name)['profiles'], ['gateway-tier'], name);
      assert.equal(service(name)['image'], `otel/opentelemetry-collector-contrib:${otelcolVersion}`, name);
      const command = strings(service(name)['command'], `${name}.command`).join(' ');
      const mount = mounts(name)[0];
      assert.ok(mount && command.includes(`--config=${mount.target}`) && existsSync(join(repoRoot, mount.source)), name);
    }
    for (const name of Object.keys(services).filter((n) => !tierServices.includes(n))) {
      assert.equal(service(name)['profiles'], undefined, `${name} starts without a profile`);
    }
  });

  it('agent -> node-collector -> gateway-1/2 -> otel-collector, and Prometheus scrapes the node-collector', () => {
    assert.equal(resolveCompose(serviceEnv('agent')['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '', { AGENT_OTLP_ENDPOINT: 'http://node-collector:4317' }), 'http://node-collector:4317');
    const nodeYaml = readFileSync(join(repoRoot, 'otel-config/agent-collector.yaml'), 'utf8');
    const node = record(parse(resolveEnv(nodeYaml, serviceEnv('node-collector'))), 'agent-collector.yaml');
    const lb = record(record(node['exporters'], 'exporters')['loadbalancing'], 'loadbalancing');
    const hostnames = strings(record(record(lb['resolver'], 'resolver')['static'], 'static')['hostnames'], 'hostnames');
    assert.deepEqual(hostnames, ['gateway-1:4317', 'gateway-2:4317']);
    assert.match(JSON.stringify(record(node['receivers'], 'receivers')), /0\.0\.0\.0:4317/);
    for (const name of ['gateway-1', 'gateway-2']) {
      const gw = record(parse(resolveEnv(readFileSync(join(repoRoot, 'otel-config/gateway.yaml'), 'utf8'), serviceEnv(name))), name);
      assert.match(JSON.stringify(record(gw['receivers'], 'receivers')), /0\.0\.0\.0:4317/, `${name} listens where the node-collector sends`);
      const exporter = record(record(gw['exporters'], 'exporters')['otlp_grpc/backend'], 'otlp_grpc/backend');
      assert.equal(exporter['endpoint'], 'otel-collector:4317');
    }
    const promPort = String(record(record(node['exporters'], 'exporters')['prometheus'], 'prometheus')['endpoint']).split(':').pop();
    const prom = loadYaml('deploy/prometheus.yml');
    const jobs = prom['scrape_configs'] as { static_configs: { targets: string[] }[] }[];
    assert.ok(jobs.flatMap((j) => j.static_configs.flatMap((s) => s.targets)).includes(`node-collector:${promPort}`));
  });
});
