/**
 * An exec storm with 4 KiB of hostile, secret-looking argv (the redaction
 * benchmark's arguments) against the agent with every exec a span: every
 * exec arrives (nothing lost in the kernel), every argv is redacted, no
 * secret comes out. And two at once of a program named sh given 4 KiB
 * scripts built to cost the most per byte (each script is redacted as a
 * line): at 5cc5556 two such storms lost 17 % of exec events in the kernel.
 * And a loop whose long argv changes only in its secrets and in a flag before an
 * unchanged word (what the redactor's per-word reuse must get right).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { hostileArgs, hostileScript } from '../bench/redaction';
import { attrs, startAgent } from './helpers/agent';
import { sleep } from './helpers/ring-capture';

const EXECS = 2000;
/** Per script storm (two run at once). */
const SCRIPT_EXECS = 1500;

describe('exec storm with 4 KiB hostile argv', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'eo-hostile-storm-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every exec arrives and is redacted; nothing is lost in the kernel', async () => {
    const binary = path.join(dir, `eo-hostile-${process.pid}`);
    copyFileSync('/bin/true', binary);
    const args = hostileArgs();
    assert.ok(args.join('\0').length >= 3900, 'about 4 KiB');
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'exec', '--trace-execs', 'all', '--max-spans-per-second', '0']);
    try {
      await agent.waitForStderr(/running/);
      // "$i" at the end of every word: no two execs share an argv or a word, so nothing decoded or redacted
      // for one serves the next (decode/argv-memo.ts, commands/recent-argv.ts), as a hostile user would make it.
      const storm = spawn('bash', ['-c', `for i in $(seq ${EXECS}); do "$0" "\${@/%/$i}"; done; "$0" STORM-SENTINEL`, binary, ...args], { stdio: 'ignore' });
      assert.equal(await new Promise((r) => storm.once('exit', r)), 0);
      // The sentinel exec ends the storm: a plain string search, no parsing while the spans stream in.
      for (const deadline = Date.now() + 60_000; !agent.stdout().includes('STORM-SENTINEL'); await sleep(100)) {
        assert.ok(Date.now() < deadline, 'the sentinel exec never arrived');
      }
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    const name = path.basename(binary);
    const spans = agent.jsonLines().filter((s) => s.name === name);
    assert.equal(spans.length, EXECS + 1, 'one span per exec');
    const summary = agent.stderr().split('\n').filter((l) => l.includes('events received')).at(-1) ?? '';
    assert.match(summary, /lost in kernel: 0;/);
    const first = attrs(spans[0] as Record<string, unknown>)['process.command_args'] as string[];
    assert.equal(first[1], '--password=****');
    for (const secret of ['hunter2', 's3cret', 'eyJhbGciOiJIUzI1NiJ9', 'ghp_aaaa']) assert.ok(!agent.stdout().includes(secret), `${secret} leaked`);
  });

  it('a loop that changes its secrets from one exec to the next: every span redacted, the rest readable (commands/recent-argv.ts)', async () => {
    const mysql = path.join(dir, 'mysql'); // a tool with a context rule: `mysql -p x`
    copyFileSync('/bin/true', mysql);
    const filler = Array.from({ length: 12 }, (_, k) => `--opt-${k}=${'v'.repeat(24)}`);
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'exec', '--trace-execs', 'all', '--max-spans-per-second', '0']);
    try {
      await agent.waitForStderr(/running/);
      // Each exec: long argv, the same but for its secrets (ending in the counter) and a flag before
      // an unchanged word that makes it a secret every other exec.
      const loop = 'for i in $(seq 300); do if [ $((i % 2)) = 0 ]; then f=--password; else f=--verbose; fi; '
        + '"$0" "$@" "--token=Zq5tok$i" -p "Zq5pw$i" "$f" Zq5fixedvalue "u=1&password=Zq5form$i"; done; "$0" LOOP-SENTINEL';
      const storm = spawn('bash', ['-c', loop, mysql, ...filler], { stdio: 'ignore' });
      assert.equal(await new Promise((r) => storm.once('exit', r)), 0);
      for (const deadline = Date.now() + 60_000; !agent.stdout().includes('LOOP-SENTINEL'); await sleep(100)) {
        assert.ok(Date.now() < deadline, 'the sentinel exec never arrived');
      }
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    const argvs = agent.jsonLines().filter((s) => s.name === 'mysql')
      .map((s) => attrs(s)['process.command_args'] as string[]).filter((a) => a.length > 2);
    assert.equal(argvs.length, 300, 'one span per exec of the loop');
    // The loop's own bash shows `-p "Zq5pw$i"` (its script runs "$0": no tool rule can know it is mysql); the values, never.
    for (const secret of ['Zq5tok', 'Zq5form', ...[2, 77, 300].map((i) => `Zq5pw${i}`)]) assert.ok(!agent.stdout().includes(secret), `${secret} leaked`);
    for (const argv of argvs) {
      assert.deepEqual(argv.slice(1, 13), filler, 'the rest stays readable');
      const flag = argv.indexOf('--password') >= 0 ? '--password' : '--verbose';
      assert.deepEqual(argv.slice(13), ['--token=****', '-p', '****', flag, flag === '--password' ? '****' : 'Zq5fixedvalue', 'u=1&password=****']);
    }
    assert.equal(argvs.filter((a) => a.includes('Zq5fixedvalue')).length, 150, 'after --verbose the word is not a secret');
  });

  it('two storms of 4 KiB hostile scripts (sh -c) at once: every exec arrives', async () => {
    const sh = path.join(dir, 'sh'); // the rules go by the program's name: /bin/true named sh
    copyFileSync('/bin/true', sh);
    const scripts = [hostileScript(), 'a;'.repeat(2000)];
    const agent = startAgent(['--exporter', 'jsonl', '--probes', 'exec', '--trace-execs', 'all', '--max-spans-per-second', '0']);
    try {
      await agent.waitForStderr(/running/);
      // Each storm's exit is listened for from its start: one may end while the other is awaited.
      const exits = scripts.map((script) => {
        // Each script different ("$i" ends it): every one is read afresh, as a hostile user would make it.
        const storm = spawn('bash', ['-c', `for i in $(seq ${SCRIPT_EXECS}); do "$0" -c "$1 $i"; done`, sh, script], { stdio: 'ignore' });
        return new Promise((r) => storm.once('exit', r));
      });
      assert.deepEqual(await Promise.all(exits), [0, 0]);
      const sentinel = spawn(sh, ['SCRIPT-STORM-SENTINEL'], { stdio: 'ignore' });
      assert.equal(await new Promise((r) => sentinel.once('exit', r)), 0);
      for (const deadline = Date.now() + 60_000; !agent.stdout().includes('SCRIPT-STORM-SENTINEL'); await sleep(100)) {
        assert.ok(Date.now() < deadline, 'the sentinel exec never arrived');
      }
    } finally {
      assert.equal(await agent.stop(), 0);
    }
    const spans = agent.jsonLines().filter((s) => s.name === 'sh');
    assert.equal(spans.length, 2 * SCRIPT_EXECS + 1, 'one span per exec');
    const summary = agent.stderr().split('\n').filter((l) => l.includes('events received')).at(-1) ?? '';
    assert.match(summary, /lost in kernel: 0;/);
  });
});
