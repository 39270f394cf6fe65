/**
 * PID reuse with the real kernel. A command typed in a traced shell makes a
 * refused connect and exits; its pid P is then given to an unrelated process
 * (the test sets /proc/sys/kernel/ns_last_pid to P-1 and retries until the
 * new process really gets P), which makes a refused connect too. The second
 * connect must not be put under the first command's trace (the finished
 * process stays findable for late connects, keyed by pid: a fork of the same
 * pid ends that).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attrs, startAgent, type AgentRun } from './helpers/agent';
import { freePort, TCPCTL } from './helpers/net';
import { TmuxShell } from './helpers/tmux';

describe('pid reuse', { timeout: 120_000 }, () => {
  let agent: AgentRun;
  let shell: TmuxShell;
  let port: number;

  before(async () => {
    // Only connects to our port: other work on the machine stays out of the output.
    port = await freePort();
    agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp,exec,bash', '--max-spans-per-second', '0', '--port', String(port)]);
    await agent.waitForStderr(/running/);
    shell = TmuxShell.start('eo-pidreuse');
    await shell.waitForPrompt();
  });

  after(async () => {
    shell?.kill();
    if (agent) await agent.stop();
  });

  it('a connect by a new process with a reused pid is not attributed to the old one', async () => {
    const out = path.join(tmpdir(), `eo-pidreuse-${process.pid}.json`);
    shell.type(`python3 ${TCPCTL} connect 127.0.0.1 ${port} > ${out}; echo FIRST-DONE`);
    await shell.waitFor(/^FIRST-DONE$/m);
    const first = JSON.parse(readFileSync(out, 'utf8')) as { pid: number };
    const pid = first.pid;
    const firstSpan = await agent.waitForJson((s) => s.name === 'tcp connect' && attrs(s)['process.pid'] === pid && attrs(s)['server.port'] === port);
    assert.ok(firstSpan.parentSpanId, 'the first connect is under its command');

    // The same pid for another process: connects only if it really got it.
    const script = `import os, socket, sys\nif os.getpid() != ${pid}: sys.exit(3)\ns = socket.socket()\ns.connect_ex(("127.0.0.1", ${port}))\ns.close()`;
    let reused = false;
    for (let attempt = 0; attempt < 50 && !reused; attempt++) {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
      reused = spawnSync('python3', ['-c', script]).status === 0;
    }
    assert.ok(reused, `pid ${pid} was not given to the second process in 50 attempts (a busy machine)`);
    const spans = (): Array<Record<string, unknown>> => agent.jsonLines().filter((s) => s.name === 'tcp connect' && attrs(s)['process.pid'] === pid && attrs(s)['server.port'] === port);
    await agent.waitForJson(() => spans().length >= 2);
    const second = spans().find((s) => s.spanId !== firstSpan.spanId);
    assert.equal(second?.parentSpanId, undefined, 'the reused pid\'s connect stands alone');
    assert.notEqual(second?.traceId, firstSpan.traceId);
  });
});
