/**
 * Least privilege with the real kernel: once its probes are attached the
 * agent holds no capability in any thread and has no_new_privs set, and
 * still reads events, reads maps and shuts down cleanly. Then the agent run
 * as an unprivileged user (nobody) holding only the documented start-up
 * capabilities (util-linux setpriv, as ambient capabilities): every probe
 * attaches, connects, execs and typed commands are reported; without
 * CAP_SYS_ADMIN only the uprobes (bash) are refused: the dns probe's socket
 * source needs none.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { threadPrivileges } from '../receiver/src/privileges';
import path from 'node:path';
import { attrs, startAgent, startAgentIn, type AgentRun } from './helpers/agent';
import { DnsLab } from './helpers/dns-lab';
import { connect, freePort } from './helpers/net';
import { TmuxShell } from './helpers/tmux';

/** The start-up capabilities README documents for a non-root agent. */
const DOCUMENTED = ['bpf', 'perfmon', 'dac_read_search', 'sys_admin'];

async function checkDropped(agent: AgentRun): Promise<void> {
  await agent.waitForStderr(/privileges: capabilities dropped in all \d+ threads, no_new_privs set; kept: none/);
  const pid = agent.child.pid as number;
  const threads = threadPrivileges(pid);
  assert.ok(threads.length > 1, 'node runs several threads');
  for (const t of threads) {
    assert.equal(t.effective, 0n, `thread ${t.tid} effective capabilities`);
    assert.equal(t.permitted, 0n, `thread ${t.tid} permitted capabilities`);
    assert.equal(t.noNewPrivs, true, `thread ${t.tid} no_new_privs`);
  }
}

/** A refused connect to `port`: its span must arrive (ring buffer read after the drop). */
async function refusedConnectSeen(agent: AgentRun, port: number): Promise<void> {
  const run = await connect('127.0.0.1', port);
  assert.equal(run.results[0]?.ok, false);
  await agent.waitForJson((s) => s.name === 'tcp connect' && attrs(s)['server.port'] === port && attrs(s)['ebpf_otel.tcp.outcome'] === 'refused');
}

describe('least privilege', { timeout: 120_000 }, () => {
  const running: AgentRun[] = [];
  after(async () => {
    for (const a of running) await a.stop();
  });

  it('as root: every capability dropped in every thread once attached; still reads and stops cleanly', async () => {
    // --port: only our connects, whatever else runs on the machine.
    const port = await freePort();
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp,exec', '--port', String(port)]);
    running.push(agent);
    await checkDropped(agent);
    await refusedConnectSeen(agent, port);
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /events received: .*tcp=\d+/);
  });

  it('as nobody with only the documented capabilities: all probes work, then nothing is held', async () => {
    const caps = DOCUMENTED.map((c) => `+${c}`).join(',');
    const run = startAgentIn('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps', caps, '--ambient-caps', caps, '--']);
    const port = await freePort();
    const agent = run(['--exporter', 'jsonl', '--probes', 'tcp,exec,bash', '--max-spans-per-second', '0', '--port', String(port)]);
    running.push(agent);
    await agent.waitForStderr(/bash: watching commands typed in/);
    assert.doesNotMatch(agent.stderr(), /continuing without it|warn/);
    await checkDropped(agent);
    await refusedConnectSeen(agent, port);
    const shell = TmuxShell.start('eo-nonroot');
    try {
      await shell.waitForPrompt();
      shell.type('echo NONROOT-$((6*7))');
      await shell.waitFor(/^NONROOT-42$/m);
      const span = await agent.waitForJson((s) => attrs(s)['process.command_line'] === 'echo NONROOT-$((6*7))');
      assert.equal(span.name, 'echo');
    } finally {
      shell.kill();
    }
    assert.equal(await agent.stop(), 0);
  });

  it('as nobody without CAP_SYS_ADMIN: the bash probe is refused with the reason, the others run', async () => {
    const caps = DOCUMENTED.filter((c) => c !== 'sys_admin').map((c) => `+${c}`).join(',');
    const run = startAgentIn('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps', caps, '--ambient-caps', caps, '--']);
    const port = await freePort();
    const agent = run(['--exporter', 'jsonl', '--probes', 'tcp,exec,bash', '--port', String(port)]);
    running.push(agent);
    await agent.waitForStderr(/running/);
    assert.match(agent.stderr(), /bash: .*Permission denied.*continuing without it/s);
    await refusedConnectSeen(agent, port);
    assert.equal(await agent.stop(), 0);
  });

  it('as nobody without CAP_SYS_ADMIN: the dns probe\'s socket source (no uprobes) runs and reports lookups', async () => {
    const lab = await DnsLab.start({ domain: 'privtest', records: { 'web.privtest': '127.21.0.1' }, hosts: {} });
    try {
      const caps = DOCUMENTED.filter((c) => c !== 'sys_admin').map((c) => `+${c}`).join(',');
      const run = startAgentIn('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps', caps, '--ambient-caps', caps, '--']);
      const agent = run(['--exporter', 'jsonl', '--probes', 'dns', '--dns-source', 'sockets']);
      running.push(agent);
      await agent.waitForStderr(/running/);
      assert.match(agent.stderr(), /dns: source sockets/);
      await checkDropped(agent);
      const out = await lab.run(['python3', path.resolve(__dirname, '../../test/helpers/dnswire.py'), 'query', lab.server, 'web.privtest', 'sendto']);
      const { pid } = JSON.parse(out.stdout) as { pid: number };
      const span = await agent.waitForJson((s) => s.name === 'dns lookup' && attrs(s)['process.pid'] === pid);
      assert.deepEqual(attrs(span)['dns.answers'], ['127.21.0.1']);
      assert.equal(await agent.stop(), 0);
    } finally {
      lab.stop();
    }
  });
});
