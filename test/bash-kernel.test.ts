/**
 * The bash probe (bpf/bash.bpf.c) in the real kernel, on the real
 * /usr/bin/bash: interactive shells in tmux, typed into. Covers the first line
 * typed into a shell that was already waiting when the probe attached, empty
 * lines, a line longer than the capture, a multi-line command, end of input,
 * the uretprobe fallback, and how lines, prompts and the commands' execs
 * interleave in time (what the command spans are built from).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BpfObject } from '../addon/lib/index';
import { BASH_LINE_MAX, type BashPromptEvent, type BashReadlineEvent } from '../receiver/src/decode/bash';
import { decodeKinds } from '../receiver/src/decode/index';
import type { ProcExecEvent, ProcExitEvent } from '../receiver/src/decode/proc';
import { resolveReadline, type ReadlineFound } from '../receiver/src/probes/bash-target';
import { BashProbe, BashStat } from '../receiver/src/probes/bash';
import { u32, u64 } from '../receiver/src/probes/common';
import { ProcProbe } from '../receiver/src/probes/proc';
import { BPF_DIR, RingCapture, objectSource } from './helpers/ring-capture';
import { TmuxShell } from './helpers/tmux';

const BASH = '/usr/bin/bash';

type BashEvent = BashReadlineEvent | BashPromptEvent;

const decodeBash = decodeKinds('bash_readline', 'bash_prompt');

function resolveBash(): ReadlineFound {
  const found = resolveReadline(BASH);
  assert.equal(found.kind, 'found', found.kind === 'skipped' ? found.reason : '');
  return found as ReadlineFound;
}

/** The production loader (BashProbe) for one shell process. */
function loadBash(shellPid: number): RingCapture<BashEvent, BashProbe> {
  const probe = BashProbe.load(BPF_DIR, { shells: [BASH], filterTgid: shellPid, excludeTgid: 0 });
  return new RingCapture(probe, decodeBash);
}

/**
 * bash.bpf.o loaded by hand with a chosen line program: 'return' is the
 * fallback BashProbe only uses for a readline without a visible teardown.
 */
function loadBashObject(target: ReadlineFound, shellPid: number, lineProbe: 'teardown' | 'return'): RingCapture<BashEvent> {
  const object = BpfObject.open(path.join(BPF_DIR, 'bash.bpf.o'));
  try {
    object.setGlobal('filter_tgid', u32(shellPid));
    object.setGlobal('readline_vaddr', u64(target.readline.vaddr));
    object.setGlobal('teardown_vaddr', u64(target.teardown?.vaddr ?? 0));
    object.setGlobal('rl_line_buffer_vaddr', u64(target.rlLineBuffer ?? 0));
    object.setGlobal('rl_end_vaddr', u64(target.rlEnd ?? 0));
    object.setGlobal('command_line_count_vaddr', u64(target.commandLineCount ?? 0));
    object.load();
    object.attachUprobe('handle_readline_entry', { binaryPath: target.module, offset: target.readline.fileOffset, retprobe: false });
    if (lineProbe === 'teardown') {
      assert.ok(target.teardown, `${BASH} has readline_internal_teardown`);
      object.attachUprobe('handle_teardown', { binaryPath: target.module, offset: target.teardown.fileOffset, retprobe: false });
    } else {
      object.attachUprobe('handle_readline_return', { binaryPath: target.module, offset: target.readline.fileOffset, retprobe: true });
    }
    return new RingCapture(objectSource(object, BashStat.Events), decodeBash);
  } catch (err) {
    object.close();
    throw err;
  }
}

const isLine = (e: BashEvent): e is BashReadlineEvent => e.kind === 'bash_readline';
const isPrompt = (e: BashEvent): e is BashPromptEvent => e.kind === 'bash_prompt';

describe('bash probe (readline_internal_teardown) in the kernel', () => {
  let shell: TmuxShell;
  let cap: RingCapture<BashEvent, BashProbe>;

  before(async () => {
    shell = TmuxShell.start('bash');
    // The shell is already in readline, waiting, when the probes attach.
    await shell.waitForPrompt();
    cap = loadBash(shell.pid);
    const targets = cap.source.targets;
    assert.deepEqual(targets.map(({ shell, module, lineProbe }) => ({ shell, module, lineProbe })), [{ shell: BASH, module: BASH, lineProbe: 'teardown' }]);
    // Readline is in the executable: running bashes use it, ours among them (others come and go meanwhile).
    const [target] = targets;
    assert.ok(target && target.runningShells >= 1 && target.runningShells <= target.shellProcesses, JSON.stringify(target));
  });
  after(() => {
    cap?.close();
    shell?.kill();
  });

  /** Types a line and returns the line event it produced. */
  async function enter(text: string): Promise<BashReadlineEvent> {
    const before = cap.events.filter(isLine).length;
    shell.type(text);
    const lines = await cap.waitFor(isLine, before + 1);
    assert.equal(lines.length, before + 1, `one line event for ${JSON.stringify(text.slice(0, 40))}`);
    return lines[before] as BashReadlineEvent;
  }

  it('captures the first line typed into a shell already waiting at its prompt', async () => {
    assert.equal(cap.events.length, 0, 'nothing before typing');
    const line = await enter('echo first');
    assert.equal(line.line, 'echo first');
    assert.equal(line.lineLength, 10);
    assert.equal(line.pid, shell.pid);
    assert.equal(line.tid, shell.pid);
    assert.equal(line.comm, 'bash');
    assert.equal(line.commandLine, 0);
    assert.equal(line.lengthKnown, true);
    assert.equal(line.truncated || line.eof || line.unreadable || line.fromReturn, false);
    // The command ran; bash asks for the next line: a prompt, after the line.
    const [prompt] = await cap.waitFor(isPrompt);
    assert.ok(prompt && prompt.timestampNs > line.timestampNs);
    assert.equal(prompt.commandLine, 0, 'a new command (PS1)');
    assert.equal(prompt.pid, shell.pid);
  });

  it('an empty line is a line of length 0, not end of input', async () => {
    const line = await enter('');
    assert.equal(line.line, '');
    assert.equal(line.lineLength, 0);
    assert.equal(line.eof, false);
    assert.equal(line.commandLine, 0);
  });

  it('keeps spaces, quotes and UTF-8 as typed (before any expansion)', async () => {
    const text = `  printf '%s\\n' "$HOME" ‘ünïcode’ ✓  `;
    const line = await enter(text);
    assert.equal(line.line, text);
    assert.equal(line.lineLength, Buffer.byteLength(text));
  });

  it(`cuts a line longer than ${BASH_LINE_MAX - 1} bytes and reports its real length`, async () => {
    const text = `echo ${'y'.repeat(5000)} | wc -c`;
    const line = await enter(text);
    assert.equal(line.truncated, true);
    assert.equal(line.lineLength, text.length);
    assert.equal(line.line, text.slice(0, BASH_LINE_MAX - 1));
    assert.equal(line.lengthKnown, true);
  });

  it('a multi-line command: one event per line, numbered, with continuation prompts between', async () => {
    const from = cap.events.length;
    await enter('for i in 1 2; do');
    await enter('echo "n=$i"');
    await enter('done');
    await cap.waitFor((e) => isPrompt(e) && cap.events.indexOf(e) > from + 5);
    const sequence = cap.events.slice(from).map((e) => (isLine(e) ? `line ${e.commandLine} ${e.line}` : `prompt ${e.commandLine}`));
    assert.deepEqual(sequence, ['line 0 for i in 1 2; do', 'prompt 1', 'line 1 echo "n=$i"', 'prompt 2', 'line 2 done', 'prompt 0']);
    assert.match(shell.screen(), /n=1\nn=2/);
  });

  it('an open quote continues the command too', async () => {
    const from = cap.events.length;
    await enter("echo 'a");
    await enter("b'");
    await cap.waitFor((e) => isPrompt(e) && e.commandLine === 0 && cap.events.indexOf(e) > from);
    const lines = cap.events.slice(from).filter(isLine);
    assert.deepEqual(lines.map((l) => [l.commandLine, l.line]), [[0, "echo 'a"], [1, "b'"]]);
  });

  it('Ctrl-D on an empty line is end of input, and the shell exits', async () => {
    const before = cap.events.filter(isLine).length;
    shell.keys('C-d');
    const lines = await cap.waitFor(isLine, before + 1);
    const eof = lines[before];
    assert.ok(eof);
    assert.equal(eof.eof, true);
    assert.equal(eof.line, '');
    for (let i = 0; i < 50 && shell.alive(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(shell.alive(), false, 'bash exited');
  });

  it('no drops, no unreadable lines, no decode errors', () => {
    const stats = cap.source.stats();
    assert.equal(stats.ringbufDrops, 0n);
    assert.equal(stats.lineUnreadable, 0n);
    assert.equal(stats.events, BigInt(cap.events.length));
    assert.deepEqual(cap.decodeErrors, []);
    assert.equal(cap.framingErrors, 0);
  });
});

describe('bash probe fallback (readline uretprobe)', () => {
  it('misses the line already being read at attach, then captures lines without their real length', async () => {
    const target = resolveBash();
    const shell = TmuxShell.start('bash-ret');
    let cap: RingCapture<BashEvent> | undefined;
    try {
      await shell.waitForPrompt();
      cap = loadBashObject(target, shell.pid, 'return');
      shell.type('echo missed');
      // The readline call in progress at attach returns without the uretprobe.
      await cap.waitFor(isPrompt);
      shell.type('echo seen');
      const [line] = await cap.waitFor(isLine);
      assert.ok(line);
      assert.equal(line.line, 'echo seen');
      assert.equal(line.fromReturn, true);
      assert.equal(line.lengthKnown, false);
      assert.equal(line.commandLine, undefined, 'no globals can be located from a return address');
      assert.equal(cap.events.filter(isLine).length, 1, 'the first line was missed, as documented');
    } finally {
      cap?.close();
      shell.kill();
    }
  });
});

describe('BashProbe', () => {
  it('probes a file once however many names it has, and skips what it cannot probe', () => {
    const names = [BASH, '/bin/bash', '/bin/true', '/nonexistent/bash'];
    const probe = BashProbe.load(BPF_DIR, { shells: names, filterTgid: 0, excludeTgid: process.pid });
    try {
      assert.equal(probe.targets.length, 1, 'uprobes are per inode: /bin/bash is /usr/bin/bash here');
      assert.deepEqual(probe.skipped.map((s) => s.shell), ['/bin/true', '/nonexistent/bash']);
      assert.match(probe.skipped[0]?.reason ?? '', /no readline function/);
      assert.match(probe.skipped[1]?.reason ?? '', /ENOENT/);
    } finally {
      probe.close();
    }
  });

  it('refuses to start with no shell to probe, naming each reason', () => {
    assert.throws(
      () => BashProbe.load(BPF_DIR, { shells: ['/bin/true'], filterTgid: 0, excludeTgid: 0 }),
      /no shell to probe\n  \/bin\/true: .*no readline function/,
    );
  });
});

describe('bash lines and the commands they run, on one clock', () => {
  it('line, then exec and exit of the command (a child of the shell), then the next prompt', async () => {
    const shell = TmuxShell.start('bash-proc');
    let bash: RingCapture<BashEvent> | undefined;
    let proc: RingCapture<ProcExecEvent | ProcExitEvent> | undefined;
    try {
      await shell.waitForPrompt();
      bash = loadBash(shell.pid);
      proc = new RingCapture(ProcProbe.load(BPF_DIR, { filterTgid: 0, excludeTgid: 0, followAll: true }), decodeKinds('proc_exec', 'proc_exit'));

      shell.type('/bin/sleep 0.2; /bin/echo done-$((40+2))');
      const [line] = await bash.waitFor(isLine);
      const [prompt] = await bash.waitFor(isPrompt);
      assert.ok(line && prompt);
      const children = await proc.waitFor((e) => e.kind === 'proc_exec' && e.ppid === shell.pid, 2);
      const [sleep, echo] = children as ProcExecEvent[];
      assert.ok(sleep && echo);
      assert.deepEqual(sleep.args, ['/bin/sleep', '0.2']);
      assert.deepEqual(echo.args, ['/bin/echo', 'done-42'], 'argv after expansion, the line before it');
      const exits = proc.events.filter((e): e is ProcExitEvent => e.kind === 'proc_exit' && (e.pid === sleep.pid || e.pid === echo.pid));
      assert.equal(exits.length, 2);
      const [sleepExit, echoExit] = exits;
      assert.ok(sleepExit && echoExit);
      // One monotonic clock: line < exec < exit < exec < exit < prompt.
      const order = [line.timestampNs, sleep.timestampNs, sleepExit.timestampNs, echo.timestampNs, echoExit.timestampNs, prompt.timestampNs];
      assert.deepEqual([...order].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), order);
      assert.ok(sleepExit.durationNs >= 200_000_000n);
      assert.equal(`/dev/${echo.tty}`, shell.tty);
      assert.equal(echo.sessionId, shell.pid);
    } finally {
      bash?.close();
      proc?.close();
      shell.kill();
    }
  });
});
