/**
 * A fork storm in a traced shell (controlled: 3,000 background /bin/true,
 * as fast as bash forks) while another process makes refused connects.
 * Process spans go through the same budget as TCP spans: the storm is cut
 * to the rate cap and counted as sampled out, every connect failure is
 * still exported, and the agent's memory stays bounded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { attrs, startAgent, type AgentRun } from './helpers/agent';
import { connect, freePort } from './helpers/net';
import { TmuxShell } from './helpers/tmux';

const STORM = 3000;
const FAILURES = 20;

describe('fork storm in a traced shell', { timeout: 180_000 }, () => {
  let agent: AgentRun;
  let shell: TmuxShell;
  let port: number;

  before(async () => {
    // Only connects to our port (other work on the machine stays out); every exec is seen.
    port = await freePort();
    agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp,exec,bash', '--max-spans-per-second', '100', '--stats-interval', '1', '--port', String(port)]);
    await agent.waitForStderr(/running/);
    shell = TmuxShell.start('eo-storm');
    await shell.waitForPrompt();
  });

  after(async () => {
    shell?.kill();
    if (agent) await agent.stop();
  });

  it('spans capped and counted, connect failures all exported, memory bounded', async () => {
    shell.type(`for i in $(seq ${STORM}); do /bin/true & done; wait; echo STORM-DONE`);
    // The connects run while the storm does: wait until the agent has seen part of it.
    await agent.waitForStderr(/events received: .*exec=([2-9]\d{3}|\d{5,})/, 60_000);
    const run = await connect('127.0.0.1', port, { count: FAILURES });
    assert.ok(run.results.every((r) => !r.ok));
    await shell.waitFor(/^STORM-DONE$/m, 120_000);
    await agent.waitForJson((s) => s.parentSpanId === undefined && String(attrs(s)['process.command_line']).includes('STORM-DONE'), 30_000);
    const status = readFileSync(`/proc/${agent.child.pid}/status`, 'utf8');
    const peakKb = Number(/^VmHWM:\s*(\d+)/m.exec(status)?.[1]);
    assert.equal(await agent.stop(), 0);

    const spans = agent.jsonLines();
    const failures = spans.filter((s) => s.name === 'tcp connect' && attrs(s)['server.port'] === port);
    assert.equal(failures.length, FAILURES, 'every connect failure exported');
    const trues = spans.filter((s) => s.name === 'true').length;
    // The summary logged at exit (the last one).
    const sampledOut = Number([...agent.stderr().matchAll(/spans sampled out: [^;]*rate_limit=(\d+)/g)].at(-1)?.[1] ?? 0);
    assert.ok(trues < STORM, `storm spans capped (${trues} of ${STORM})`);
    assert.ok(trues + sampledOut >= STORM, `every storm process exported or counted (${trues} + ${sampledOut})`);
    assert.match([...agent.stderr().matchAll(/lost in kernel: [^;]*;/g)].at(-1)?.[0] ?? '', /lost in kernel: 0;/);
    assert.ok(peakKb < 400 * 1024, `peak RSS ${peakKb} kB`);
  });
});
