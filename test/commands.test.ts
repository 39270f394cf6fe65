/**
 * Commands as traces with the real kernel: interactive bash in tmux, the
 * agent (jsonl exporter) watching, and Debian's libbpf-tools bashreadline and
 * execsnoop watching the same activity side by side.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { attrs, startAgent, type AgentRun } from './helpers/agent';
import { freePort, listen, TCPCTL, type Listener } from './helpers/net';
import { TmuxShell } from './helpers/tmux';

type Span = Record<string, unknown>;

/** A libbpf tool printing to a pipe; `waitFor` resolves once its output matches (its header: attached). */
function watch(cmd: string, args: string[]): { child: ChildProcess; out: () => string; waitFor: (re: RegExp, timeoutMs?: number) => Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = (re: RegExp, timeoutMs = 30_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')}: ${String(re)} not printed; output:\n${out}`)), timeoutMs);
      const check = (): void => {
        if (re.test(out)) {
          clearTimeout(timer);
          resolve();
        } else {
          waiters.push(check);
        }
      };
      check();
    });
  return { child, out: () => out, waitFor };
}

describe('commands typed in bash become traces', () => {
  let agent: AgentRun;
  let shell: TmuxShell;
  let listener: Listener;
  let bashreadline: ReturnType<typeof watch>;
  let execsnoop: ReturnType<typeof watch>;
  let marker = 0;

  const spans = (): Span[] => agent.jsonLines();
  const roots = (): Span[] => spans().filter((s) => s.parentSpanId === undefined && attrs(s)['process.pid'] === shell.pid && attrs(s)['process.command_line'] !== undefined);
  /** The root span of `line` typed into our shell (the agent sees every shell on the machine, other tests' too). */
  const ourRoot = (line: string) => (s: Span): boolean =>
    s.parentSpanId === undefined && attrs(s)['process.pid'] === shell.pid && attrs(s)['process.command_line'] === line;
  const rootFor = (text: string): Span | undefined => roots().find((s) => attrs(s)['process.command_line'] === text);
  const childrenOf = (span: Span): Span[] => spans().filter((s) => s.parentSpanId === span.spanId);
  const inTrace = (span: Span): Span[] => spans().filter((s) => s.traceId === span.traceId);

  /** Types a command, then waits for it to finish (a marker echoed after it) and for its root span. */
  async function run(line: string): Promise<Span> {
    shell.type(line);
    const m = `MARK-${++marker}`;
    shell.type(`echo ${m}`);
    await shell.waitFor(new RegExp(`^${m}$`, 'm'));
    return agent.waitForJson(ourRoot(`echo ${m}`), 15_000).then(() => {
      const root = rootFor(line);
      assert.ok(root, `root span for ${JSON.stringify(line)}; roots: ${roots().map((r) => attrs(r)['process.command_line']).join(' | ')}`);
      return root;
    });
  }

  before(async () => {
    listener = await listen('127.0.0.1', await freePort());
    // The shell is already waiting at its prompt when the probes attach.
    shell = TmuxShell.start('eo-cmd', '/bin/bash --norc --noprofile');
    await shell.waitForPrompt();
    bashreadline = watch('stdbuf', ['-oL', '/usr/sbin/bashreadline']);
    execsnoop = watch('stdbuf', ['-oL', '/usr/sbin/execsnoop']);
    // Only connects to our listener: other connects on the host (a storm) would bury the lines we wait for.
    agent = startAgent(['--exporter', 'jsonl', '--probes', 'tcp,exec,bash', '--max-spans-per-second', '0', '--port', String(listener.port)]);
    await agent.waitForStderr(/running/);
    // The tools print their header once attached.
    await bashreadline.waitFor(/^TIME\s+PID\s+COMMAND/m);
    await execsnoop.waitFor(/^PCOMM\s+PID\s+PPID/m);
  });

  after(async () => {
    shell?.kill();
    listener?.stop();
    bashreadline?.child.kill('SIGINT');
    execsnoop?.child.kill('SIGINT');
    if (agent) assert.equal(await agent.stop(), 0);
  });

  it('the first command typed into an already-waiting shell is captured', async () => {
    const root = await run('ls / > /dev/null');
    assert.equal(root.name, 'ls');
    const [ls] = childrenOf(root);
    assert.equal(ls?.name, 'ls');
    assert.deepEqual(attrs(ls as Span)['process.command_args'], ['ls', '/']);
    assert.equal(attrs(ls as Span)['process.exit.code'], 0);
    assert.equal(attrs(ls as Span)['process.parent_pid'], shell.pid);
    assert.equal(attrs(root)['process.owner'], 'root');
  });

  it('a pipeline: one root, a child per process, exit status of the last', async () => {
    const root = await run('seq 3 | wc -l');
    const names = childrenOf(root).map((s) => s.name).sort();
    assert.deepEqual(names, ['seq', 'wc']);
    assert.equal(attrs(root)['process.exit.code'], 0);
  });

  it('a failing command: exit code and ERROR status on the command and its process', async () => {
    const root = await run('ls /nonexistent-ebpf-otel');
    assert.equal(attrs(root)['process.exit.code'], 2);
    assert.equal((root.status as { code: string }).code, 'ERROR');
    const [ls] = childrenOf(root);
    assert.equal((ls?.status as { code: string }).code, 'ERROR');
  });

  it('sleep 1: the command lasts about a second', async () => {
    const root = await run('sleep 1');
    assert.ok((root.durationMs as number) >= 990 && (root.durationMs as number) < 2000, `${String(root.durationMs)} ms`);
    const [sleepSpan] = childrenOf(root);
    assert.ok((sleepSpan?.durationMs as number) >= 990);
  });

  it('an empty line makes no span; a multi-line command makes one', async () => {
    const before = roots().length;
    shell.keys('Enter');
    shell.type('for i in 1 2; do');
    shell.type('echo loop-$i');
    shell.type('done');
    shell.type('echo MULTI-DONE');
    await shell.waitFor(/^MULTI-DONE$/m);
    await agent.waitForJson(ourRoot('echo MULTI-DONE'));
    const multi = roots().find((s) => attrs(s)['process.command_line'] === 'for i in 1 2; do\necho loop-$i\ndone');
    assert.ok(multi, 'multi-line command as one span');
    assert.equal(attrs(multi)['ebpf_otel.command.line_count'], 3);
    assert.ok(roots().every((s) => String(attrs(s)['process.command_line']).trim() !== ''), 'no span for the empty line');
    assert.ok(roots().length > before);
  });

  it('a long line is marked truncated, never silently cut', async () => {
    const long = `echo ${'x'.repeat(5000)} > /dev/null`;
    shell.type(long);
    shell.type('echo LONG-DONE');
    await shell.waitFor(/^LONG-DONE$/m);
    const root = await agent.waitForJson((s) => s.parentSpanId === undefined && attrs(s)['process.pid'] === shell.pid && attrs(s)['ebpf_otel.command.truncated'] === true);
    assert.ok(String(attrs(root)['process.command_line']).startsWith('echo xxxx'), `root: ${JSON.stringify(root).slice(0, 400)}`);
  });

  it('a command that connects: bash line -> process -> tcp connect in one trace', async () => {
    const root = await run(`python3 ${TCPCTL} connect 127.0.0.1 ${listener.port}`);
    const trace = inTrace(root);
    const connect = await agent.waitForJson((s) => s.name === 'tcp connect' && s.traceId === root.traceId);
    assert.equal(attrs(connect)['network.peer.port'], listener.port);
    const parent = trace.find((s) => s.spanId === connect.parentSpanId);
    assert.ok(parent, 'the connect has a parent in the trace');
    assert.equal(attrs(parent)['process.pid'], attrs(connect)['process.pid']);
    assert.ok(String(attrs(parent)['process.executable.path']).includes('python3'));
    // walk up to the root
    let node: Span | undefined = parent;
    for (let hops = 0; node && node.parentSpanId !== undefined && hops < 20; hops++) node = trace.find((s) => s.spanId === node?.parentSpanId);
    assert.equal(node?.spanId, root.spanId);
  });

  it('secrets on the command line never leave the agent', async () => {
    shell.type('echo --password hunter2-ebpf-otel > /dev/null; env DB_TOKEN=tok-ebpf-otel true');
    shell.type('echo SECRET-DONE');
    await shell.waitFor(/^SECRET-DONE$/m);
    await agent.waitForJson(ourRoot('echo SECRET-DONE'));
    await agent.waitForJson((s) => s.name === 'env' && attrs(s)['process.parent_pid'] === shell.pid);
    assert.doesNotMatch(agent.stdout(), /hunter2-ebpf-otel|tok-ebpf-otel/);
    assert.match(agent.stdout(), /--password \*\*\*\*/);
    assert.match(agent.stdout(), /DB_TOKEN=\*\*\*\*/);
  });

  it('nothing that bashreadline and execsnoop saw is missing', async () => {
    // A sentinel command after everything else: once all three have seen it, they have seen the rest.
    shell.type('/bin/true TOOLS-SENTINEL');
    await bashreadline.waitFor(new RegExp(`^\\S+\\s+${shell.pid}\\s+/bin/true TOOLS-SENTINEL$`, 'm'));
    await execsnoop.waitFor(new RegExp(`\\btrue\\s+\\d+\\s+${shell.pid}\\s+0 /bin/true TOOLS-SENTINEL`));
    await agent.waitForJson(ourRoot('/bin/true TOOLS-SENTINEL'));
    const ours = new Set(roots().flatMap((s) => String(attrs(s)['process.command_line']).split('\n')));
    const theirLines = bashreadline.out().split('\n')
      .map((l) => /^\S+\s+(\d+)\s+(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) === shell.pid)
      .map((m) => m[2] as string);
    assert.ok(theirLines.length >= 5, `bashreadline saw ${theirLines.length} lines`);
    for (const l of theirLines) {
      if (l.trim() === '' || l.length > 4000 || /hunter2|DB_TOKEN/.test(l)) continue;
      // bashreadline keeps 80 bytes of a line: compare its prefix then.
      const found = ours.has(l) || (l.length >= 79 && [...ours].some((o) => o.startsWith(l)));
      assert.ok(found, `bashreadline saw ${JSON.stringify(l)}, we did not`);
    }
    // bashreadline's uretprobe misses the first line typed into a waiting shell; we do not.
    assert.ok(ours.has('ls / > /dev/null'));
    const ourExecPids = new Set(spans().filter((s) => attrs(s)['process.executable.path'] !== undefined).map((s) => Number(attrs(s)['process.pid'])));
    const theirExecs = execsnoop.out().split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 4 && /^\d+$/.test(f[1] ?? '') && Number(f[2]) === shell.pid && f[3] === '0');
    assert.ok(theirExecs.length >= 5, `execsnoop saw ${theirExecs.length} execs from the shell`);
    for (const f of theirExecs) assert.ok(ourExecPids.has(Number(f[1])), `execsnoop saw pid ${f[1]} (${f[0]}), we have no span`);
  });
});

describe('processes outside a shell', () => {
  it('--trace-execs all: an exec storm from a script, every process a span', async () => {
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'exec', '--trace-execs', 'all', '--max-spans-per-second', '0']);
    try {
      await agent.waitForStderr(/running/);
      const script = spawn('bash', ['-c', 'for i in $(seq 300); do /bin/true; done'], { stdio: 'ignore' });
      const scriptPid = script.pid;
      await new Promise((r) => script.once('exit', r));
      // A sentinel process after the storm: spans leave in kernel time order, so once it is out, all 300 are.
      const sentinel = spawn('/bin/true', ['STORM-SENTINEL'], { stdio: 'ignore' });
      await agent.waitForJson((s) => attrs(s)['process.pid'] === sentinel.pid && s.name === 'true', 30_000);
      const trues = agent.jsonLines().filter((s) => s.name === 'true' && attrs(s)['process.parent_pid'] === scriptPid);
      assert.equal(trues.length, 300);
      assert.ok(trues.every((s) => attrs(s)['process.exit.code'] === 0));
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    assert.match(agent.stderr(), /lost in kernel: 0/);
  });

  it('--trace-execs interactive: non-interactive processes make no spans', async () => {
    // A shell as the sentinel: a command typed after the script makes spans, so once those are out, the script's would be.
    const shell = TmuxShell.start('eo-cmd-int', '/bin/bash --norc --noprofile');
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'exec,bash']);
    try {
      await shell.waitForPrompt();
      await agent.waitForStderr(/running/);
      const script = spawn('bash', ['-c', 'for i in 1 2 3; do /bin/true; done'], { stdio: 'ignore' });
      await new Promise((r) => script.once('exit', r));
      shell.type('/bin/true INTERACTIVE-SENTINEL');
      await agent.waitForJson((s) => s.name === 'true' && attrs(s)['process.parent_pid'] === shell.pid);
      assert.equal(agent.jsonLines().filter((s) => attrs(s)['process.parent_pid'] === script.pid).length, 0);
    } finally {
      shell.kill();
      assert.equal(await agent.stop(), 0);
    }
    // Only the traced shell's processes are shipped (the script's are filtered in the kernel).
    assert.match(agent.stderr(), /events received: [^;]*exec=\d+/);
  });
});
