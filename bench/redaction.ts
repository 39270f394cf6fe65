/**
 * Redaction benchmark (issue 9): the cost of redacting long, hostile argv.
 *
 * 1. Exec storm with redaction on: build/bench/argv_storm runs /bin/true
 *    COUNT times with (a) one short argument, (b) 63 arguments of 4 KiB in
 *    all, secret-looking and built to hurt a backtracking matcher. The agent
 *    (`--probes exec --trace-execs all --max-spans-per-second 0`: every exec a
 *    span, so every argv is redacted) is charged its CPU time per 1,000 execs
 *    (utime+stime from /proc, until it is idle again); kernel loss is read
 *    from its exit summary. Also: (c) a program named sh given `-c` and a 4 KiB
 *    script, realistic and hostile (redacted as a line, command by command).
 *    Rounds interleave the variants; medians and ranges.
 * 2. The built-in rules alone on one 4 KiB argument list and one 4 KiB line,
 *    realistic and hostile, median microseconds per call.
 *
 * Usage (as root, after scripts/bootstrap.sh): scripts/node.sh dist/bench/redaction.js [--rounds 5] [--execs 3000] [--out bench/REDACTION.md]
 */
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedactor } from '../receiver/src/commands/redact';
import { sampleProc, waitUntilIdle } from './proc';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/receiver/src/cli.js');
const STORM = path.join(ROOT, 'build/bench/argv_storm');

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** Pads `text` to `n` characters by repeating its own tail pattern (`unit`). */
function pad(text: string, unit: string, n = 67): string {
  let out = text;
  while (out.length + unit.length <= n) out += unit;
  return out;
}

/** 63 arguments, 4 KiB in all: every rule's trigger, and the shapes that make backtracking matchers quadratic. */
export function hostileArgs(): string[] {
  const pieces = [
    pad('--password=hunter2', 'x'), '-H', pad('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def', 'g'), pad('https://alice:s3cret@example.com/a?access_token=x&b=c', '&d=e'),
    pad('--env=DB_PASSWORD=x', 'y'), pad('-Djavax.net.ssl.keyStorePassword=x', 'z'), pad('host=db password=x dbname=y', ' k=v'), pad('pass:x', 'q'), pad('ghp_', 'a'),
    pad('', '='), pad('', 'a='), pad('', ':'), pad('', 'password:'), pad('', '://@'), pad('', '$('), pad('', 'token=&'), pad('-p', '\\'),
  ];
  const out: string[] = [];
  for (let i = 0; out.length < 63; i++) out.push(pieces[i % pieces.length] as string);
  return out;
}

/** A long ordinary command line (a compiler's): 4 KiB, nothing secret, few rule triggers. */
export function ordinaryArgs(): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < 63; i++) {
    out.push([
      `-I/usr/include/project/subsystem/module${i}/include/generated/headers`,
      `-DFEATURE_FLAG_NUMBER_${i}_ENABLED_FOR_THIS_BUILD_CONFIGURATION=1`,
      `src/subsystem/module${i}/implementation/file_${i}_with_a_long_name.c`,
      `-fmacro-prefix-map=/home/builder/src/project/module${i}/sources=.`,
      `-Wl,-rpath,/opt/vendor/lib${i}/x86_64-linux-gnu/runtime/libraries`,
    ][i % 5] as string);
  }
  return out;
}

/** A shell script of 4 KiB (deploy steps, as CI and build tools pass to `sh -c`): redacted as a line, command by command. */
export function deployScript(): string {
  const steps = 'set -e; cd /srv/app && git fetch --all && git checkout "$BRANCH" && npm ci --no-audit && npm run build && rsync -a dist/ /var/www/app/ && systemctl reload nginx; ';
  return steps.repeat(Math.ceil(4000 / steps.length)).slice(0, 4000);
}

/**
 * A hostile script of 4 KiB, the costliest shape per byte measured: `ssh h ` again and again (each
 * remote command is redacted as an argv and its words as lines, nested ssh to the depth limit).
 * (`$(sh -c a) ` and 2,000 one-word commands, `a;a;…`, cost more before a plain word skipped the
 * split and the rules read at most 512 commands.)
 */
export function hostileScript(): string {
  return 'ssh h '.repeat(Math.ceil(4000 / 6)).slice(0, 4000);
}

interface Round { variant: string; execs: number; rate: number; cpuPer1000Ms: number; lost: string; received: number }

async function round(variant: string, argFile: string, execs: number, extra: readonly string[] = [], program = '/bin/true'): Promise<Round> {
  const agent = spawn(process.execPath, ['--disable-sigusr1', CLI, '--exporter', 'jsonl', '--probes', 'exec', '--trace-execs', 'all', '--max-spans-per-second', '0', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  agent.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  while (!/running/.test(err)) {
    if (agent.exitCode !== null) throw new Error(`agent exited: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const pid = agent.pid as number;
  await waitUntilIdle(pid, 10_000);
  const before = sampleProc(pid).cpuSeconds;
  // `vary-all`: every word of 16 bytes or more ends with the exec's number, as a hostile user would make them
  // differ, so every argv is decoded and redacted afresh (neither the memo of repeated argv nor the reuse
  // of a program's unchanged words serves).
  const out = execFileSync(STORM, [String(execs), program, argFile, 'vary-all'], { encoding: 'utf8' });
  await waitUntilIdle(pid, 60_000);
  const cpu = sampleProc(pid).cpuSeconds - before;
  agent.kill('SIGINT');
  await new Promise((r) => agent.once('exit', r));
  const summary = err.split('\n').filter((l) => l.includes('events received')).at(-1) ?? '';
  return {
    variant,
    execs,
    rate: (JSON.parse(out) as { per_second: number }).per_second,
    cpuPer1000Ms: (cpu / execs) * 1000 * 1000,
    lost: /lost in kernel: ([^;]*);/.exec(summary)?.[1] ?? '?',
    received: Number(/exec=(\d+)/.exec(summary)?.[1] ?? 0),
  };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

function microbench(): string[] {
  const r = createRedactor(true);
  const long = hostileArgs();
  const ordinary = ['cc', ...ordinaryArgs()];
  const realisticLine = `curl -u alice:secret -H "Authorization: Bearer abc" "https://api.example/x?access_token=zz&q=1" ${'--flag value '.repeat(300)}`.slice(0, 4096);
  const realisticArgs = realisticLine.split(' ');
  const cases: Array<[string, () => unknown]> = [
    ['argv, 4 KiB hostile (63 args)', () => r.args(long)],
    ['argv, 4 KiB realistic (curl + 300 flags)', () => r.args(realisticArgs)],
    ['argv, 4 KiB ordinary (compiler, 63 args)', () => r.args(ordinary)],
    ['line, 4 KiB realistic', () => r.line(realisticLine)],
    ['line, 4 KiB of `$(`', () => r.line('$('.repeat(2048))],
    ['line, 4 KiB of `a=`', () => r.line('a='.repeat(2048))],
    ['argv, sh -c with a 4 KiB deploy script', () => r.args(['sh', '-c', deployScript()])],
    ['argv, sh -c with a 4 KiB hostile script (`ssh h ` × 667)', () => r.args(['sh', '-c', hostileScript()])],
    ['argv, sh -c with 4 KiB of `$(sh -c a) `', () => r.args(['sh', '-c', '$(sh -c a) '.repeat(364)])],
    ['argv, sh -c with 4 KiB of `a;` (2,000 commands, 512 read)', () => r.args(['sh', '-c', 'a;'.repeat(2000)])],
  ];
  return cases.map(([name, fn]) => {
    for (let i = 0; i < 200; i++) fn();
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t = process.hrtime.bigint();
      for (let j = 0; j < 100; j++) fn();
      times.push(Number(process.hrtime.bigint() - t) / 1e3 / 100);
    }
    return `| ${name} | ${median(times).toFixed(1)} µs (${Math.min(...times).toFixed(1)} – ${Math.max(...times).toFixed(1)}) |`;
  });
}

async function main(): Promise<void> {
  const rounds = Number(option('rounds', '5'));
  const execs = Number(option('execs', '3000'));
  const outFile = option('out', path.join(ROOT, 'bench/REDACTION.md'));
  execFileSync('mkdir', ['-p', path.dirname(STORM)]);
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', STORM, path.join(ROOT, 'bench/argv_storm.c')]);
  const dir = mkdtempSync(path.join(tmpdir(), 'eo-redaction-bench-'));
  const shortFile = path.join(dir, 'short');
  const longFile = path.join(dir, 'long');
  writeFileSync(shortFile, '--verbose\n');
  writeFileSync(longFile, `${hostileArgs().join('\n')}\n`);
  const ordinaryFile = path.join(dir, 'ordinary');
  writeFileSync(ordinaryFile, `${ordinaryArgs().join('\n')}\n`);
  // A program named sh (a copy of /bin/true: the rules go by the name) given a 4 KiB script with -c.
  const sh = path.join(dir, 'sh');
  copyFileSync('/bin/true', sh);
  const scriptFile = path.join(dir, 'script');
  writeFileSync(scriptFile, `-c\n${deployScript()}\n`);
  const hostileScriptFile = path.join(dir, 'hostile-script');
  writeFileSync(hostileScriptFile, `-c\n${hostileScript()}\n`);
  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const variants: Array<[string, string, string[], string?]> = [
      ['short argv', shortFile, []],
      ['4 KiB ordinary argv', ordinaryFile, []],
      ['4 KiB hostile argv', longFile, []],
      ['4 KiB hostile argv, --no-redact', longFile, ['--no-redact']],
      ['sh -c, 4 KiB deploy script', scriptFile, [], sh],
      ['sh -c, 4 KiB hostile script', hostileScriptFile, [], sh],
    ];
    for (const [variant, file, extra, program] of variants) {
      const r = await round(variant, file, execs, extra, program);
      process.stderr.write(`bench: round ${i + 1} ${variant}: ${r.rate.toFixed(0)} execs/s, ${r.cpuPer1000Ms.toFixed(0)} ms CPU per 1,000, lost ${r.lost}\n`);
      results.push(r);
    }
  }
  const rows = ['short argv', '4 KiB ordinary argv', '4 KiB hostile argv', '4 KiB hostile argv, --no-redact', 'sh -c, 4 KiB deploy script', 'sh -c, 4 KiB hostile script'].map((v) => {
    const rs = results.filter((r) => r.variant === v);
    const cpu = rs.map((r) => r.cpuPer1000Ms);
    const rate = rs.map((r) => r.rate);
    return { v, cpu: median(cpu), line: `| ${v} | ${median(rate).toFixed(0)} /s | ${median(cpu).toFixed(0)} ms (${Math.min(...cpu).toFixed(0)} – ${Math.max(...cpu).toFixed(0)}) | ${[...new Set(rs.map((r) => r.lost))].join(', ')} | ${rs.map((r) => r.received).join(', ')} |` };
  });
  const ratio = (rows[1]?.cpu ?? 0) / (rows[0]?.cpu ?? 1);
  const hostileRatio = (rows[2]?.cpu ?? 0) / (rows[0]?.cpu ?? 1);
  const unredactedRatio = (rows[3]?.cpu ?? 0) / (rows[0]?.cpu ?? 1);
  const scriptRatio = (rows[4]?.cpu ?? 0) / (rows[0]?.cpu ?? 1);
  const hostileScriptRatio = (rows[5]?.cpu ?? 0) / (rows[0]?.cpu ?? 1);
  const text = [
    '# Redaction benchmark',
    '',
    `Written by \`bench/redaction.ts\` on ${new Date().toISOString()}: ${rounds} interleaved rounds of ${execs} execs each, agent with`,
    '`--probes exec --trace-execs all --max-spans-per-second 0 --exporter jsonl` (every exec a span, every argv redacted).',
    '',
    '| argv | exec rate | agent CPU per 1,000 execs, median (min – max) | lost in kernel | exec events received per round |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => r.line),
    '',
    `Agent CPU per 1,000 execs relative to short argv: 4 KiB ordinary **${ratio.toFixed(2)}**, 4 KiB hostile **${hostileRatio.toFixed(2)}**,`,
    `4 KiB hostile without redaction ${unredactedRatio.toFixed(2)} (target ≤ 1.20); \`sh -c\` with a 4 KiB script ${scriptRatio.toFixed(2)},`,
    `with a hostile one ${hostileScriptRatio.toFixed(2)} (a script is redacted as a typed line, command by command). The agent traces every`,
    'exec on the host: other activity on the machine during a round is charged to it too (the events received column shows how much).',
    '',
    '| built-in rules alone | median per call (min – max of 15 × 100 calls) |',
    '| --- | --- |',
    ...microbench(),
    '',
  ].join('\n');
  writeFileSync(outFile, text);
  process.stdout.write(text);
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
