/**
 * The process lifecycle probe (bpf/proc.bpf.c) in the real kernel: real
 * execs with arguments (and a secret in the environment that must never
 * show), real exit statuses, forks of processes but not of threads, one exit
 * per process however many threads it has, and the in-kernel filters.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BPF_ANY } from '../addon/lib/index';
import { after, before, describe, it } from 'node:test';
import { decodeKinds } from '../receiver/src/decode/index';
import {
  PROC_ARGS_MAX_BYTES,
  PROC_ARGS_MAX_COUNT,
  type ProcExecEvent,
  type ProcExitEvent,
  type ProcForkEvent,
} from '../receiver/src/decode/proc';
import { ProcProbe } from '../receiver/src/probes/proc';
import { BPF_DIR, RingCapture, sleep } from './helpers/ring-capture';

type ProcEvent = ProcExecEvent | ProcForkEvent | ProcExitEvent;

const decodeProc = decodeKinds('proc_exec', 'proc_fork', 'proc_exit');

function loadProc(settings: { filterTgid?: number; excludeTgid?: number; followAll?: boolean } = {}): RingCapture<ProcEvent, ProcProbe> {
  const probe = ProcProbe.load(BPF_DIR, {
    filterTgid: settings.filterTgid ?? 0,
    excludeTgid: settings.excludeTgid ?? 0,
    followAll: settings.followAll ?? true,
  });
  return new RingCapture(probe, decodeProc);
}

const isExec = (pid: number) => (e: ProcEvent): e is ProcExecEvent => e.kind === 'proc_exec' && e.pid === pid;
const isExit = (pid: number) => (e: ProcEvent): e is ProcExitEvent => e.kind === 'proc_exit' && e.pid === pid;
const isForkOf = (ppid: number) => (e: ProcEvent): e is ProcForkEvent => e.kind === 'proc_fork' && e.ppid === ppid;

/** Runs a command to completion; returns its pid. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { PATH: '/usr/bin:/bin', ...env }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ pid: child.pid ?? 0, code, signal }));
  });
}

describe('proc probe in the kernel', () => {
  let cap: RingCapture<ProcEvent, ProcProbe>;

  before(() => {
    cap = loadProc();
  });
  after(() => cap?.close());

  it('exec: path, argv exactly (empty and spaced arguments), parent, never the environment', async () => {
    const secret = `ebpf-otel-secret-${process.pid}-${Date.now()}`;
    const child = await run('/bin/echo', ['hello', 'a b', '', 'c'], { EBPF_OTEL_SECRET: secret });
    const [exec] = await cap.waitFor(isExec(child.pid));
    assert.ok(exec, 'exec event');
    assert.equal(exec.filename, '/bin/echo');
    assert.deepEqual(exec.args, ['/bin/echo', 'hello', 'a b', '', 'c']);
    assert.equal(exec.argc, 5);
    assert.equal(exec.argsTruncated, false);
    assert.equal(exec.argsSizeTotal, Buffer.byteLength('/bin/echo\0hello\0a b\0\0c\0'));
    assert.equal(exec.comm, 'echo');
    assert.equal(exec.ppid, process.pid);
    assert.equal(exec.tid, child.pid);
    assert.equal(exec.uid, process.getuid?.());
    assert.equal(exec.gid, process.getgid?.());
    assert.ok(exec.startNs > 0n && exec.startNs <= exec.timestampNs, 'forked before it exec\'d');
    // Not in the decoded args, and not anywhere in the bytes the kernel sent.
    const leaks = cap.raw.filter((record) => record.includes(secret));
    assert.equal(leaks.length, 0, 'the environment must never reach user space');
  });

  it('exec: a long argv is cut at the byte limit and flagged, with its real size', async () => {
    const long = 'x'.repeat(6000);
    const child = await run('/bin/true', [long]);
    const [exec] = await cap.waitFor(isExec(child.pid));
    assert.ok(exec);
    assert.equal(exec.argsTruncated, true);
    assert.equal(exec.argsSizeTotal, Buffer.byteLength(`/bin/true\0${long}\0`));
    assert.equal(exec.argc, 2);
    assert.equal(exec.args[0], '/bin/true');
    assert.equal(exec.args.join('\0').length, PROC_ARGS_MAX_BYTES, 'exactly the first 4 KiB, no terminating NUL');
    assert.match(exec.args[1] ?? '', /^x+$/);
  });

  it(`exec: more than ${PROC_ARGS_MAX_COUNT} arguments keep the first ${PROC_ARGS_MAX_COUNT} and the real count`, async () => {
    const many = Array.from({ length: 100 }, (_, i) => `arg${i}`);
    const child = await run('/bin/true', many);
    const [exec] = await cap.waitFor(isExec(child.pid));
    assert.ok(exec);
    assert.equal(exec.argc, 101);
    assert.equal(exec.args.length, PROC_ARGS_MAX_COUNT);
    assert.deepEqual(exec.args.slice(0, 3), ['/bin/true', 'arg0', 'arg1']);
    assert.equal(exec.argsTruncated, true);
  });

  it('exit: exit codes and signals in wait(2) form, with the lifetime', async () => {
    const cases: Array<[string[], ProcExitEvent['termination']]> = [
      [['-c', 'exit 0'], { kind: 'exited', code: 0 }],
      [['-c', 'exit 3'], { kind: 'exited', code: 3 }],
      [['-c', 'exit 255'], { kind: 'exited', code: 255 }],
      [['-c', 'kill -KILL $$'], { kind: 'signaled', signal: 9, coreDumped: false }],
      [['-c', 'kill -TERM $$'], { kind: 'signaled', signal: 15, coreDumped: false }],
      [['-c', 'sleep 0.3'], { kind: 'exited', code: 0 }],
    ];
    for (const [args, termination] of cases) {
      const started = process.hrtime.bigint();
      const child = await run('/bin/sh', args);
      const elapsed = process.hrtime.bigint() - started;
      const exits = await cap.waitFor(isExit(child.pid));
      assert.equal(exits.length, 1, `one exit for ${args.join(' ')}`);
      const [exit] = exits;
      assert.ok(exit);
      assert.deepEqual(exit.termination, termination, args.join(' '));
      assert.equal(exit.ppid, process.pid);
      assert.ok(exit.durationNs > 0n && exit.durationNs <= elapsed, `lifetime ${exit.durationNs} within ${elapsed}`);
      if (args[1] === 'sleep 0.3') assert.ok(exit.durationNs >= 300_000_000n, 'the sleep is in the lifetime');
    }
  });

  it('fork: a process forking children, each then exec and exit, in order', async () => {
    const child = await run('/bin/sh', ['-c', '/bin/true one; /bin/true two; exit 0']);
    const forks = await cap.waitFor(isForkOf(child.pid), 2);
    assert.equal(forks.length, 2);
    for (const fork of forks) {
      assert.equal(fork.comm, 'sh');
      assert.equal(fork.parentTid, child.pid);
      const [exec] = await cap.waitFor(isExec(fork.pid));
      const [exit] = await cap.waitFor(isExit(fork.pid));
      assert.ok(exec && exit, `exec and exit of ${fork.pid}`);
      assert.equal(exec.ppid, child.pid);
      assert.equal(exec.startNs, fork.timestampNs, 'the exec carries the fork time as its start');
      assert.ok(fork.timestampNs <= exec.timestampNs && exec.timestampNs <= exit.timestampNs);
      assert.equal(exit.startNs, fork.timestampNs);
    }
    assert.deepEqual(
      forks.map((f) => (cap.events.find(isExec(f.pid)) as ProcExecEvent).args),
      [['/bin/true', 'one'], ['/bin/true', 'two']],
    );
    // The spawn of sh itself: a fork of this test process.
    const [own] = await cap.waitFor((e): e is ProcForkEvent => e.kind === 'proc_fork' && e.pid === child.pid);
    assert.equal(own?.ppid, process.pid);
  });

  it('threads: no fork event for a new thread, one exit for the whole process', async () => {
    // Node itself runs several threads (V8 platform, libuv pool); a worker adds one more.
    const script = "const { Worker } = require('node:worker_threads'); new Worker('setTimeout(() => {}, 50)', { eval: true }).on('exit', () => process.exit(7));";
    const child = await run(process.execPath, ['-e', script]);
    assert.equal(child.code, 7);
    const exits = await cap.waitFor(isExit(child.pid));
    assert.equal(exits.length, 1, 'one exit event per process');
    assert.deepEqual(exits[0]?.termination, { kind: 'exited', code: 7 });
    assert.equal(cap.events.filter(isForkOf(child.pid)).length, 0, 'threads are not processes');
  });

  it('exec from a thread other than the leader: reported for the process, with the calling thread', async () => {
    const script = "import os, threading\nt = threading.Thread(target=lambda: os.execv('/bin/true', ['/bin/true', 'from-thread']))\nt.start()\nt.join()\n";
    const child = await run('python3', ['-c', script]);
    assert.equal(child.code, 0);
    const execs = await cap.waitFor(isExec(child.pid), 2);
    const exec = execs.find((e) => e.args[1] === 'from-thread');
    assert.ok(exec, `exec of /bin/true in ${child.pid}: ${JSON.stringify(execs.map((e) => e.args))}`);
    assert.equal(exec.tid, child.pid, 'after exec the caller becomes the leader');
    assert.notEqual(exec.oldTid, child.pid, 'the thread that called execve');
    assert.ok(exec.oldTid > 0);
    const exits = await cap.waitFor(isExit(child.pid));
    assert.equal(exits.length, 1);
    assert.deepEqual(exits[0]?.termination, { kind: 'exited', code: 0 });
  });

  it('exec from a terminal: the tty and the session', async () => {
    const socket = `ebpf-otel-proc-${process.pid}`;
    const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    try {
      assert.equal(tmux('new-session', '-d', '-s', 't', '-x', '120', '-y', '20', 'bash --norc --noprofile').status, 0, 'tmux starts');
      const shell = Number(tmux('display-message', '-p', '-t', 't', '#{pane_pid}').stdout.trim());
      const tty = tmux('display-message', '-p', '-t', 't', '#{pane_tty}').stdout.trim();
      // Type once bash shows its prompt.
      for (const deadline = Date.now() + 5000; !/bash-[\d.]+[#$] *$/m.test(tmux('capture-pane', '-p', '-t', 't').stdout); await sleep(20)) {
        if (Date.now() > deadline) throw new Error('bash showed no prompt');
      }
      tmux('send-keys', '-t', 't', '/bin/echo from-a-terminal', 'Enter');
      const [exec] = await cap.waitFor((e): e is ProcExecEvent => e.kind === 'proc_exec' && e.ppid === shell && e.args[1] === 'from-a-terminal');
      assert.ok(exec, 'exec of the typed command');
      assert.equal(`/dev/${exec.tty}`, tty);
      assert.equal(exec.sessionId, shell, 'bash in a fresh pane leads its session');
    } finally {
      tmux('kill-server');
    }
  });

  it('counts events and no ring buffer drops', () => {
    const stats = cap.source.stats();
    assert.equal(stats.ringbufDrops, 0n);
    assert.equal(stats.argsUnreadable, 0n);
    assert.ok(stats.events > 10n);
    assert.deepEqual(cap.decodeErrors, []);
    assert.equal(cap.framingErrors, 0);
  });
});

describe('proc probe filters', () => {
  it('filter_tgid: exec and exit of that process, forks it makes; nothing of its children', async () => {
    let shell: ChildProcess | undefined;
    let cap: RingCapture<ProcEvent, ProcProbe> | undefined;
    try {
      shell = spawn('/bin/sh', ['-c', 'read line; /bin/true child; exec /bin/true self'], { stdio: ['pipe', 'ignore', 'ignore'] });
      const pid = shell.pid ?? 0;
      const exited = new Promise((resolve) => shell?.on('exit', resolve));
      cap = loadProc({ filterTgid: pid });
      shell.stdin?.end('go\n');
      await exited;
      await cap.waitFor(isExit(pid));
      const forks = cap.events.filter((e) => e.kind === 'proc_fork');
      assert.equal(forks.length, 1, 'the fork of /bin/true child');
      const childPid = forks[0]?.pid ?? -1;
      assert.deepEqual(
        cap.events.map((e) => `${e.kind}:${e.pid === pid ? 'self' : e.pid === childPid ? 'child' : e.pid}`),
        ['proc_fork:child', 'proc_exec:self', 'proc_exit:self'],
      );
      assert.deepEqual((cap.events.find(isExec(pid)) as ProcExecEvent).args, ['/bin/true', 'self']);
    } finally {
      cap?.close();
      shell?.kill();
    }
  });

  it('exclude_tgid: none of the excluded process, everything of others', async () => {
    const cap = loadProc({ excludeTgid: process.pid });
    try {
      const child = await run('/bin/sh', ['-c', '/bin/true; exit 4']);
      const [exit] = await cap.waitFor(isExit(child.pid));
      assert.deepEqual(exit?.termination, { kind: 'exited', code: 4 });
      assert.equal(cap.events.filter((e) => e.kind === 'proc_fork' && e.ppid === process.pid).length, 0, 'forks by the excluded process');
      assert.equal(cap.events.filter(isForkOf(child.pid)).length, 1, 'forks by its child');
    } finally {
      cap.close();
    }
  });
});

describe('proc probe: only followed processes are shipped, every exec is counted', () => {
  const pidKey = (pid: number): Buffer => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(pid);
    return key;
  };

  it('an exec storm nobody follows sends nothing and is counted exactly; children of a followed process are followed to their exit', async () => {
    const cap = loadProc({ followAll: false });
    const dir = mkdtempSync(path.join(tmpdir(), 'eo-follow-'));
    try {
      // A name nobody else on the machine runs, so the kernel's count is ours alone.
      const name = `eo-cnt-${process.pid}`;
      const binary = path.join(dir, name);
      copyFileSync('/bin/true', binary);
      const storm = await run('/bin/sh', ['-c', `i=0; while [ $i -lt 300 ]; do ${binary}; i=$((i+1)); done`]);
      assert.equal(storm.code, 0);

      // Now follow ourselves: what we start from here on is shipped, with its children.
      const followed = cap.source.object.map('followed');
      followed.update(pidKey(process.pid), Buffer.from([1]), BPF_ANY);
      const tree = await run('/bin/sh', ['-c', `/bin/sh -c '${binary}; exit 3'; exit 5`]);
      assert.equal(tree.code, 5);
      const [treeExit] = await cap.waitFor(isExit(tree.pid));
      assert.equal(treeExit?.termination.kind === 'exited' && treeExit.termination.code, 5);
      const [fork] = await cap.waitFor(isForkOf(tree.pid));
      assert.ok(fork, 'the grandchild, followed at fork in the kernel');
      const [grandExit] = await cap.waitFor(isExit(fork.pid));
      assert.equal(grandExit?.termination.kind === 'exited' && grandExit.termination.code, 3);
      const [leaf] = await cap.waitFor(isForkOf(fork.pid));
      assert.ok(leaf && (await cap.waitFor(isExec(leaf.pid)))[0]?.filename === binary);

      // The storm came first in the same ring buffer: none of it was shipped.
      assert.equal(cap.events.filter((e) => e.pid === storm.pid || ('ppid' in e && e.ppid === storm.pid)).length, 0);
      // Counted all the same, in the kernel: 300 + the followed one.
      assert.equal(cap.source.execCounts().find(([n]) => n === name)?.[1], 301n);
      // Exits took the followed processes out of the table again.
      for (const pid of [tree.pid, fork.pid, leaf.pid]) assert.equal(followed.lookup(pidKey(pid)), null, `pid ${pid} still followed`);
      followed.delete(pidKey(process.pid));
      const stats = cap.source.stats();
      assert.equal(stats.followFull, 0n);
      assert.equal(stats.execNotCounted, 0n);
    } finally {
      cap.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
