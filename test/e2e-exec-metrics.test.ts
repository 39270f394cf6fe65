/**
 * End to end, the process and command metrics: an exec storm from a script and commands typed
 * into bash, counted by the agent and read back from the real Collector's file exporter. The
 * counts must be exact (every exec is counted whatever --trace-execs says about spans).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentRun } from './helpers/agent';
import { ensureBackends, flattenMetrics, startCollector, waitFor, type CollectorHandle, type FlatMetricPoint } from './helpers/backends';
import { TmuxShell } from './helpers/tmux';

before(() => {
  ensureBackends();
});

/** The newest cumulative point of `name` matching `attrs` for this test's service. */
function latest(points: FlatMetricPoint[], service: string, name: string, attrs: Record<string, string>): FlatMetricPoint | undefined {
  return points
    .filter((p) => p.name === name && p.resource['service.name'] === service)
    .filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))
    .at(-1);
}

describe('e2e: exec and command metrics are exact', { timeout: 180_000 }, () => {
  const service = `e2e-exec-metrics-${process.pid}-${Date.now()}`;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let dir: string;
  let binary: string;

  before(async () => {
    collector = await startCollector({});
    // A program name no other process on the machine runs, so the count is ours alone.
    dir = mkdtempSync(path.join(tmpdir(), 'eo-exec-'));
    binary = path.join(dir, `eo-true-${process.pid}`);
    copyFileSync('/bin/true', binary);
    agent = startAgent(
      ['--exporter', 'otlp', '--probes', 'exec,bash', '--otlp-endpoint', collector.endpoints.otlpGrpc, '--metric-interval-ms', '1000'],
      { OTEL_SERVICE_NAME: service },
    );
    await agent.waitForStderr(/running/);
  });

  after(async () => {
    if (agent) assert.equal(await agent.stop(), 0);
    await collector?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('500 execs from a script: ebpf_otel.process.execs counts exactly 500', async () => {
    const script = spawn('bash', ['-c', `for i in $(seq 500); do ${binary}; done`], { stdio: 'ignore' });
    await new Promise((r) => script.once('exit', r));
    const name = path.basename(binary);
    const point = await waitFor(
      async () => latest(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.process.execs', { 'process.executable.name': name }),
      (p) => p !== undefined && p.value >= 500,
      { timeoutMs: 20_000, what: `ebpf_otel.process.execs{${name}}` },
    );
    assert.equal(point?.value, 500);
    assert.equal(point?.kind, 'sum');
  });

  it('commands typed in bash: ebpf_otel.commands and the duration histogram', async () => {
    const shell = TmuxShell.start('eo-metrics');
    try {
      await shell.waitForPrompt();
      for (let i = 0; i < 3; i++) shell.type(`${binary} ${i}`);
      shell.type('sleep 0.3');
      shell.type('echo METRICS-DONE');
      await shell.waitFor(/^METRICS-DONE$/m);
      const name = path.basename(binary);
      const commands = await waitFor(
        async () => latest(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.commands', { 'ebpf_otel.command.name': name }),
        (p) => p !== undefined && p.value >= 3,
        { timeoutMs: 20_000, what: 'ebpf_otel.commands' },
      );
      assert.equal(commands?.value, 3);
      const sleeps = await waitFor(
        async () => latest(flattenMetrics(collector.readMetrics()), service, 'ebpf_otel.command.duration', { 'ebpf_otel.command.name': 'sleep' }),
        (p) => p !== undefined && (p.count ?? 0) >= 1,
        { timeoutMs: 20_000, what: 'ebpf_otel.command.duration{sleep}' },
      );
      assert.equal(sleeps?.count, 1);
      assert.equal(sleeps?.unit, 's');
      assert.ok((sleeps?.value ?? 0) >= 0.3 && (sleeps?.value ?? 0) < 1.5, `sleep 0.3 took ${String(sleeps?.value)} s`);
    } finally {
      shell.kill();
    }
  });

  it('the agent lost nothing', async () => {
    const points = flattenMetrics(collector.readMetrics());
    const lost = points.filter((p) => p.name === 'ebpf_otel.events.lost' && p.resource['service.name'] === service);
    assert.ok(lost.length > 0, 'ebpf_otel.events.lost is exported');
    assert.ok(lost.every((p) => p.value === 0));
  });
});
