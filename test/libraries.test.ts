/**
 * Library resolution (receiver/src/probes/libraries.ts) against the real
 * dynamic linker: ld.so.cache as `ldconfig -p` prints it, the search order
 * (RPATH, LD_LIBRARY_PATH, RUNPATH, cache, default directories) as `ldd`
 * resolves it, and the readline a running process really mapped. Then the
 * bash probe on a shell whose running process uses another libreadline than
 * a new one would: both are probed, and the one no running shell uses is
 * reported as such.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readElf } from '../receiver/src/elf';
import { BashProbe } from '../receiver/src/probes/bash';
import { resolveReadline, runningShells } from '../receiver/src/probes/bash-target';
import { mappedFiles, processesRunning, readLdCache, resolveLibrary, type LibrarySearch } from '../receiver/src/probes/libraries';
import { BPF_DIR } from './helpers/ring-capture';

function cc(args: string[], cwd: string): void {
  const out = spawnSync('cc', args, { cwd, encoding: 'utf8' });
  assert.equal(out.status, 0, `cc ${args.join(' ')}: ${out.stderr}`);
}

/** Where ld.so takes `lib` from for `program` (ldd, with the given LD_LIBRARY_PATH), symlinks resolved. */
function ldd(program: string, lib: string, ldLibraryPath?: string): string {
  const env = { ...process.env };
  delete env.LD_LIBRARY_PATH;
  if (ldLibraryPath !== undefined) env.LD_LIBRARY_PATH = ldLibraryPath;
  const out = spawnSync('ldd', [program], { encoding: 'utf8', env });
  assert.equal(out.status, 0, out.stderr);
  const line = out.stdout.split('\n').find((l) => l.trim().startsWith(`${lib} =>`));
  const found = line && /=>\s+(\S+)/.exec(line)?.[1];
  assert.ok(found, `ldd ${program} does not load ${lib}:\n${out.stdout}`);
  return fs.realpathSync(found);
}

const real = (file: string | undefined): string | undefined => (file === undefined ? undefined : fs.realpathSync(file));

describe('ld.so.cache', () => {
  it('reads every entry ldconfig -p lists, in its order', () => {
    const out = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const expected = new Map<string, string[]>();
    for (const line of out.stdout.split('\n').slice(1)) {
      const m = /^\s+(\S+) \(.*\) => (\S+)$/.exec(line);
      if (!m) continue;
      expected.set(m[1] as string, [...(expected.get(m[1] as string) ?? []), m[2] as string]);
    }
    assert.ok(expected.size > 10, out.stdout);
    const cache = readLdCache();
    assert.deepEqual(new Map([...cache].filter(([name]) => expected.has(name))), expected);
    assert.equal(cache.size, expected.size);
  });

  it('an unreadable or foreign cache is empty, not an error', () => {
    assert.equal(readLdCache('/nonexistent').size, 0);
    assert.equal(readLdCache('/usr/bin/bash').size, 0);
  });
});

describe('library search order, as ld.so does it', () => {
  let dir = '';
  let child: ChildProcess | undefined;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-otel-libs-'));
    // Two copies of one library (same soname): "old" and "new".
    fs.writeFileSync(path.join(dir, 'rl.c'), 'char *readline(const char *p) { (void)p; return 0; }\n');
    for (const d of ['old', 'new']) {
      fs.mkdirSync(path.join(dir, d));
      cc(['-O1', '-shared', '-fPIC', '-Wl,-soname,libfakerl.so.1', '-o', `${d}/libfakerl.so.1`, 'rl.c'], dir);
    }
    // A "shell": calls readline, then waits for its stdin to close.
    fs.writeFileSync(
      path.join(dir, 'shell.c'),
      '#include <unistd.h>\nchar *readline(const char *prompt);\nint main(void) { char c; readline("$ "); write(1, "ready\\n", 6); return (int)read(0, &c, 1); }\n',
    );
    const lib = path.join(dir, 'new/libfakerl.so.1');
    cc(['-O1', '-o', 'plain', 'shell.c', lib], dir);
    cc(['-O1', '-o', 'runpath', 'shell.c', lib, '-Wl,--enable-new-dtags,-rpath,$ORIGIN/new'], dir);
    cc(['-O1', '-o', 'rpath', 'shell.c', lib, '-Wl,--disable-new-dtags,-rpath,$ORIGIN/new'], dir);
  });
  after(() => {
    child?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('RPATH, then LD_LIBRARY_PATH, then RUNPATH (compared with ldd)', () => {
    const old = path.join(dir, 'old');
    const cases: Array<[string, string | undefined]> = [
      ['runpath', undefined],
      ['runpath', old],
      ['rpath', old],
      ['plain', old],
    ];
    for (const [program, ldLibraryPath] of cases) {
      const file = path.join(dir, program);
      const elf = readElf(file);
      assert.equal(elf.runpath.length + elf.rpath.length > 0, program !== 'plain', `${program}: ${JSON.stringify([elf.runpath, elf.rpath])}`);
      const search: LibrarySearch = { ldLibraryPath, dirs: [], cache: new Map() };
      assert.equal(real(resolveLibrary('libfakerl.so.1', elf, search)), ldd(file, 'libfakerl.so.1', ldLibraryPath), `${program} LD_LIBRARY_PATH=${String(ldLibraryPath)}`);
    }
  });

  it('system libraries through ld.so.cache (compared with ldd)', () => {
    const bash = readElf('/usr/bin/bash');
    for (const name of bash.needed) {
      assert.equal(real(resolveLibrary(name, bash, { ldLibraryPath: undefined })), ldd('/usr/bin/bash', name), name);
    }
  });

  it('finds the readline a running process mapped, and the processes running a file', async () => {
    const file = path.join(dir, 'plain');
    child = spawn(file, [], { env: { ...process.env, LD_LIBRARY_PATH: path.join(dir, 'old') }, stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.once('data', () => resolve());
      child?.once('exit', (code) => reject(new Error(`the test shell exited (${String(code)})`)));
    });
    const pid = child.pid as number;
    assert.deepEqual(processesRunning(file), [pid]);
    const mapped = mappedFiles(pid).map((m) => real(m.path));
    assert.ok(mapped.includes(real(path.join(dir, 'old/libfakerl.so.1'))), mapped.join('\n'));

    const running = runningShells(file);
    assert.deepEqual(running.pids, [pid]);
    assert.deepEqual([...running.modules.values()].map((m) => [real(m.path), m.pids]), [[real(path.join(dir, 'old/libfakerl.so.1')), [pid]]]);

    // A new shell would load new/ (the search below); the running one uses old/: both are probed,
    // and the one no running shell uses says so.
    const search: LibrarySearch = { ldLibraryPath: '', dirs: [path.join(dir, 'new')], cache: new Map() };
    const resolved = resolveReadline(file, search);
    assert.equal(resolved.kind === 'found' && real(resolved.module), real(path.join(dir, 'new/libfakerl.so.1')));
    const probe = BashProbe.load(BPF_DIR, { shells: [file], filterTgid: 0, excludeTgid: process.pid, librarySearch: search });
    try {
      const targets = probe.targets.map((t) => ({ module: real(t.module), running: t.runningShells, of: t.shellProcesses }));
      assert.deepEqual(targets, [
        { module: real(path.join(dir, 'new/libfakerl.so.1')), running: 0, of: 1 },
        { module: real(path.join(dir, 'old/libfakerl.so.1')), running: 1, of: 1 },
      ]);
    } finally {
      probe.close();
    }
    child.stdin?.end();
  });
});
