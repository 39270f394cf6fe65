/**
 * The bash probe on a bash that loads readline from libreadline.so.8, not
 * only on Debian's /usr/bin/bash (which carries its own readline). The shell
 * is Debian's bash source built with --with-installed-readline by
 * scripts/build-readline-bash.sh (cached; ~1 min cold). Interactive shells
 * in tmux, typed into: the probes land in the shared library, the first line
 * typed into an already waiting shell is seen, multi-line commands keep their
 * line numbers, and python3 (which loads the same libreadline.so) is not
 * taken for bash. Then the real agent with --bash pointing at that shell.
 *
 * Skipped only when Debian's source package cannot be had here (the script
 * exits 2: no deb-src for this release or the mirror refused it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BashPromptEvent, BashReadlineEvent } from '../receiver/src/decode/bash';
import { decodeKinds } from '../receiver/src/decode/index';
import { resolveReadline, type ReadlineFound } from '../receiver/src/probes/bash-target';
import { BashProbe } from '../receiver/src/probes/bash';
import { attrs, ROOT, startAgent, type AgentRun } from './helpers/agent';
import { BPF_DIR, RingCapture, sleep } from './helpers/ring-capture';
import { TmuxShell } from './helpers/tmux';

const BUILD_SCRIPT = path.join(ROOT, 'scripts/build-readline-bash.sh');
/** The script's "source package unavailable" exit status. */
const SOURCE_UNAVAILABLE = 2;

interface Build {
  shell?: string;
  skip?: string;
  error?: string;
}

/** Runs (or reuses) the build once, when this file is loaded: the skip decision is needed to declare the suites. */
function buildShell(): Build {
  const out = spawnSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', timeout: 10 * 60_000 });
  const why = out.stderr.trim().split('\n').slice(-15).join('\n');
  if (out.status === 0) return { shell: out.stdout.trim().split('\n').pop() ?? '' };
  if (out.status === SOURCE_UNAVAILABLE) return { skip: `Debian's bash source package is not available here: ${why.split('\n').pop() ?? ''}` };
  return { error: `${BUILD_SCRIPT} failed (status ${String(out.status ?? out.signal)}):\n${why}` };
}

const build = buildShell();
const skip = build.skip ?? false;

/** The built bash; a failed build fails every test with the script's own message. */
function sharedBash(): string {
  if (build.error) throw new Error(build.error);
  assert.ok(build.shell);
  return build.shell;
}

/** Where the dynamic linker really takes libreadline from for `shell` (ldd), symlinks resolved. */
function lddReadline(shell: string): string {
  const out = spawnSync('ldd', [shell], { encoding: 'utf8' });
  const lib = /libreadline\.so\.\d+ => (\S+)/.exec(out.stdout)?.[1];
  assert.ok(lib, `${shell} does not load libreadline.so:\n${out.stdout}`);
  return fs.realpathSync(lib);
}

type BashEvent = BashReadlineEvent | BashPromptEvent;
const isLine = (e: BashEvent): e is BashReadlineEvent => e.kind === 'bash_readline';
const isPrompt = (e: BashEvent): e is BashPromptEvent => e.kind === 'bash_prompt';

const decodeBash = decodeKinds('bash_readline', 'bash_prompt');

describe('bash with a shared libreadline.so: where the probes go', { skip }, () => {
  it('readline and its globals resolve to libreadline.so, not to the bash binary', () => {
    const shell = sharedBash();
    const found = resolveReadline(shell);
    assert.equal(found.kind, 'found', found.kind === 'skipped' ? found.reason : '');
    const target = found as ReadlineFound;
    assert.equal(target.inExecutable, false);
    assert.equal(fs.realpathSync(target.module), lddReadline(shell));
    assert.notEqual(fs.realpathSync(target.module), fs.realpathSync(shell));
    assert.ok(target.teardown, 'libreadline.so exports readline_internal_teardown');
    // bash copy-relocates readline's line buffer into itself; its own counter is there too.
    assert.ok(target.executable, 'the shell has a build ID to be recognised by');
    assert.deepEqual([...target.globalsInExecutable].sort(), ['commandLineCount', 'rlEnd', 'rlLineBuffer']);
  });
});

describe('bash with a shared libreadline.so: the probe in the kernel', { skip }, () => {
  let shell: TmuxShell;
  let python: TmuxShell;
  let cap: RingCapture<BashEvent, BashProbe>;
  const events = (pid: number): BashEvent[] => cap.events.filter((e) => e.pid === pid);

  before(async () => {
    const bash = sharedBash();
    shell = TmuxShell.start('srl', `${bash} --norc --noprofile`);
    // Another program on the same libreadline.so, typed into while the probe is on.
    python = TmuxShell.start('srl-py', 'python3 -q');
    await shell.waitForPrompt();
    await python.waitFor(/^>>>/m, 10_000);
    // The shell is already waiting in readline when the probes attach. Every
    // process is watched, so python3's lines would show if the kernel side let them through.
    cap = new RingCapture(BashProbe.load(BPF_DIR, { shells: [bash], filterTgid: 0, excludeTgid: process.pid }), decodeBash);
    const [target] = cap.source.targets;
    assert.equal(cap.source.targets.length, 1);
    assert.equal(target?.shell, bash);
    assert.equal(target?.lineProbe, 'teardown');
    assert.equal(fs.realpathSync(target?.module ?? ''), lddReadline(bash), 'uprobes in libreadline.so');
  });
  after(() => {
    cap?.close();
    shell?.kill();
    python?.kill();
  });

  async function enter(text: string): Promise<BashReadlineEvent> {
    const isShellLine = (e: BashEvent): e is BashReadlineEvent => isLine(e) && e.pid === shell.pid;
    const before = cap.events.filter(isShellLine).length;
    shell.type(text);
    const lines = await cap.waitFor(isShellLine, before + 1);
    assert.equal(lines.length, before + 1, `one line event for ${JSON.stringify(text)}`);
    return lines[before] as BashReadlineEvent;
  }

  it('captures the first line typed into the already waiting shell', async () => {
    assert.deepEqual(events(shell.pid), [], 'nothing before typing');
    const line = await enter('echo first');
    assert.equal(line.line, 'echo first');
    assert.equal(line.lineLength, 10);
    assert.equal(line.comm, 'bash');
    assert.equal(line.commandLine, 0);
    assert.equal(line.lengthKnown, true);
    assert.equal(line.truncated || line.eof || line.unreadable || line.fromReturn, false);
    const prompt = (await cap.waitFor((e) => isPrompt(e) && e.pid === shell.pid))[0];
    assert.ok(prompt && prompt.timestampNs > line.timestampNs);
    assert.equal(prompt.kind === 'bash_prompt' && prompt.commandLine, 0);
  });

  it('a multi-line command: one event per line, numbered, with continuation prompts between', async () => {
    const from = events(shell.pid).length;
    await enter('for i in 1 2; do');
    await enter('echo "n=$i"');
    await enter('done');
    await cap.waitFor((e) => e.pid === shell.pid && isPrompt(e) && events(shell.pid).indexOf(e) > from + 4);
    const sequence = events(shell.pid)
      .slice(from)
      .map((e) => (isLine(e) ? `line ${e.commandLine} ${e.line}` : `prompt ${e.commandLine}`));
    assert.deepEqual(sequence, ['line 0 for i in 1 2; do', 'prompt 1', 'line 1 echo "n=$i"', 'prompt 2', 'line 2 done', 'prompt 0']);
    assert.match(shell.screen(), /n=1\nn=2/);
  });

  it('lines typed into python3, on the same libreadline.so, are not bash lines', async () => {
    const maps = fs.readFileSync(`/proc/${python.pid}/maps`, 'utf8');
    assert.ok(maps.includes(path.basename(lddReadline(sharedBash()))), 'python3 has libreadline.so mapped: the uprobes fire in it');
    python.type('print(6 * 7)');
    await python.waitFor(/^42$/m);
    python.type('exit()');
    // Once python3 is gone and every record the kernel submitted is here, none of its lines was sent.
    for (const deadline = Date.now() + 10_000; python.alive(); await sleep(20)) {
      if (Date.now() > deadline) throw new Error('python3 did not exit');
    }
    await cap.settle();
    assert.deepEqual(events(python.pid), []);
  });

  it('no drops, no unreadable lines, no decode errors', () => {
    const stats = cap.source.stats();
    assert.equal(stats.ringbufDrops, 0n);
    assert.equal(stats.lineUnreadable, 0n);
    assert.deepEqual(cap.decodeErrors, []);
    assert.equal(cap.framingErrors, 0);
  });
});

describe('bash with a shared libreadline.so: the agent', { skip }, () => {
  let agent: AgentRun;
  let shell: TmuxShell;

  before(async () => {
    const bash = sharedBash();
    shell = TmuxShell.start('srl-agent', `${bash} --norc --noprofile`);
    await shell.waitForPrompt();
    agent = startAgent(['--exporter', 'jsonl', '--probes', 'bash,exec', '--bash', bash, '--max-spans-per-second', '0']);
    await agent.waitForStderr(/running/);
  });
  after(async () => {
    shell?.kill();
    if (agent) assert.equal(await agent.stop(), 0);
  });

  const rootFor = (line: string) => (s: Record<string, unknown>): boolean =>
    s.parentSpanId === undefined && attrs(s)['process.command_line'] === line && attrs(s)['process.pid'] === shell.pid;

  it('says it watches the shell through libreadline.so', () => {
    assert.match(agent.stderr(), /bash: watching commands typed in .*bash-readline-[^ ]*\/bash \(readline in [^)]*libreadline\.so/);
    // Our shell (and any other test's shell of this cached binary) maps that library: no warning.
    assert.match(agent.stderr(), /used by [1-9]\d* of the \d+ shell processes alive now/);
    assert.doesNotMatch(agent.stderr(), /only shells started from now on/);
  });

  it('a command typed into the already waiting shell is a span, with its process below it', async () => {
    shell.type('/bin/echo shared-$((6 * 7))');
    await shell.waitFor(/^shared-42$/m);
    const root = await agent.waitForJson(rootFor('/bin/echo shared-$((6 * 7))'));
    const child = await agent.waitForJson((s) => s.parentSpanId === root.spanId);
    assert.equal(child.name, 'echo');
    assert.deepEqual(attrs(child)['process.command_args'], ['/bin/echo', 'shared-42']);
    assert.equal(attrs(child)['process.parent_pid'], shell.pid);
  });

  it('a multi-line command is one span', async () => {
    shell.type('for i in 1 2; do');
    shell.type('echo loop-$i');
    shell.type('done');
    await shell.waitFor(/^loop-2$/m);
    const multi = await agent.waitForJson(rootFor('for i in 1 2; do\necho loop-$i\ndone'));
    assert.equal(attrs(multi)['ebpf_otel.command.line_count'], 3);
  });
});
