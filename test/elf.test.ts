import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfError, fileOffsetOf, readElf } from '../receiver/src/elf.js';
import { resolveReadline } from '../receiver/src/probes/bash-target.js';
import type { LibrarySearch } from '../receiver/src/probes/libraries.js';

/** Only the binary's own RUNPATH: no system cache, directories or LD_LIBRARY_PATH. */
const ONLY_RUNPATH: LibrarySearch = { dirs: [], cache: new Map(), ldLibraryPath: '' };

/** `nm` as the reference reader: name -> value of defined symbols. */
function nm(file: string, dynamic: boolean): Map<string, number> {
  const out = spawnSync('nm', [...(dynamic ? ['-D'] : []), '--defined-only', file], { encoding: 'utf8' });
  assert.equal(out.status, 0, `nm ${file}: ${out.stderr}`);
  const symbols = new Map<string, number>();
  for (const line of out.stdout.split('\n')) {
    const [value, , name] = line.trim().split(/\s+/);
    if (value && name) symbols.set(name.replace(/@.*$/, ''), Number.parseInt(value, 16));
  }
  return symbols;
}

function cc(args: string[], cwd: string): void {
  const out = spawnSync('cc', args, { cwd, encoding: 'utf8' });
  assert.equal(out.status, 0, `cc ${args.join(' ')} failed (is gcc installed? scripts/bootstrap.sh installs it): ${out.stderr}`);
}

const BASH = '/usr/bin/bash';

describe('ELF symbols of the real bash', () => {
  it('matches nm for readline, its teardown and the globals', () => {
    const elf = readElf(BASH);
    const reference = nm(BASH, true);
    assert.equal(elf.type, 'dyn'); // Debian builds bash as PIE
    for (const name of ['readline', 'readline_internal_teardown', 'rl_line_buffer', 'rl_end', 'current_command_line_count']) {
      assert.equal(elf.symbols.get(name)?.value, reference.get(name), name);
    }
    assert.equal(elf.symbols.get('readline')?.kind, 'function');
    assert.equal(elf.symbols.get('rl_line_buffer')?.kind, 'object');
    assert.ok(elf.needed.includes('libc.so.6'), `DT_NEEDED: ${elf.needed.join(', ')}`);
  });

  it('resolves the readline probes inside the executable', () => {
    const found = resolveReadline(BASH);
    assert.equal(found.kind, 'found', found.kind === 'skipped' ? found.reason : '');
    if (found.kind !== 'found') return;
    const reference = nm(BASH, true);
    assert.equal(found.module, BASH);
    assert.equal(found.inExecutable, true);
    assert.equal(found.readline.vaddr, reference.get('readline'));
    assert.equal(found.teardown?.vaddr, reference.get('readline_internal_teardown'));
    assert.equal(found.rlLineBuffer, reference.get('rl_line_buffer'));
    assert.equal(found.rlEnd, reference.get('rl_end'));
    assert.equal(found.commandLineCount, reference.get('current_command_line_count'));
    // Functions sit in the executable segment; the file offset maps back to it.
    const elf = readElf(BASH);
    const text = elf.segments.find((s) => s.executable && found.readline.vaddr >= s.vaddr && found.readline.vaddr < s.vaddr + s.fileSize);
    assert.ok(text, 'readline lies in an executable PT_LOAD segment');
    assert.equal(found.readline.fileOffset, found.readline.vaddr - text.vaddr + text.offset);
  });
});

describe('ELF symbols of small binaries built for the test', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-otel-elf-'));
    fs.writeFileSync(
      path.join(dir, 'small.c'),
      [
        'int exported_counter = 7;',
        'static int hidden_counter;',
        'static int __attribute__((noinline)) hidden_function(int x) { return x + hidden_counter++; }',
        'int probe_me(int x) { return hidden_function(x) * 2; }',
        'int main(int argc, char **argv) { (void)argv; return probe_me(argc) + exported_counter; }',
      ].join('\n'),
    );
    cc(['-O1', '-rdynamic', '-o', 'small', 'small.c'], dir);
    fs.copyFileSync(path.join(dir, 'small'), path.join(dir, 'small-stripped'));
    const strip = spawnSync('strip', [path.join(dir, 'small-stripped')]);
    assert.equal(strip.status, 0);

    // A stand-in for libreadline.so (a shell linking readline dynamically).
    fs.writeFileSync(
      path.join(dir, 'fakerl.c'),
      [
        'char *rl_line_buffer;',
        'int rl_end;',
        'char *readline_internal_teardown(int eof) { return eof ? 0 : rl_line_buffer; }',
        'char *readline(const char *prompt) { (void)prompt; return readline_internal_teardown(0); }',
      ].join('\n'),
    );
    cc(['-O1', '-shared', '-fPIC', '-Wl,-soname,libfakerl.so.1', '-o', 'libfakerl.so.1', 'fakerl.c'], dir);
    fs.writeFileSync(path.join(dir, 'oldrl.c'), 'char *readline(const char *prompt) { (void)prompt; return 0; }\n');
    fs.mkdirSync(path.join(dir, 'old'));
    cc(['-O1', '-shared', '-fPIC', '-Wl,-soname,libfakerl.so.1', '-o', 'old/libfakerl.so.1', 'oldrl.c'], dir);
    fs.writeFileSync(
      path.join(dir, 'shell.c'),
      [
        'char *readline(const char *prompt);',
        'int current_command_line_count;',
        'int main(void) { return readline("$ ") != 0; }',
      ].join('\n'),
    );
    // $ORIGIN runpath: found next to the binary, as ld.so would.
    cc(['-O1', '-o', 'shell-runpath', 'shell.c', path.join(dir, 'libfakerl.so.1'), "-Wl,-rpath,$ORIGIN"], dir);
    cc(['-O1', '-o', 'shell-plain', 'shell.c', path.join(dir, 'libfakerl.so.1')], dir);
    // Like bash: uses readline's globals itself, so a PIE link copy-relocates them into the executable.
    fs.writeFileSync(
      path.join(dir, 'copyreloc.c'),
      [
        'extern char *rl_line_buffer;',
        'extern int rl_end;',
        'char *readline(const char *prompt);',
        'int current_command_line_count;',
        'int main(void) { readline("$ "); return rl_line_buffer[rl_end - 1] + current_command_line_count; }',
      ].join('\n'),
    );
    cc(['-O1', '-fPIE', '-pie', '-Wl,--build-id=sha1', '-o', 'shell-copyreloc', 'copyreloc.c', path.join(dir, 'libfakerl.so.1'), '-Wl,-rpath,$ORIGIN'], dir);
    cc(['-O1', '-fPIE', '-pie', '-Wl,--build-id=none', '-o', 'shell-no-id', 'copyreloc.c', path.join(dir, 'libfakerl.so.1'), '-Wl,-rpath,$ORIGIN'], dir);
    fs.writeFileSync(path.join(dir, 'script.sh'), '#!/bin/sh\necho not an ELF\n');
    fs.writeFileSync(path.join(dir, 'truncated'), fs.readFileSync(path.join(dir, 'small')).subarray(0, 200));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads .symtab and .dynsym like nm does', () => {
    const file = path.join(dir, 'small');
    const elf = readElf(file);
    const all = nm(file, false);
    for (const name of ['exported_counter', 'probe_me', 'main', 'hidden_function', 'hidden_counter']) {
      assert.equal(elf.symbols.get(name)?.value, all.get(name), name);
    }
    assert.equal(elf.symbols.get('probe_me')?.table, 'dynsym');
    assert.equal(elf.symbols.get('hidden_function')?.table, 'symtab');
    assert.equal(elf.symbols.get('hidden_function')?.kind, 'function');
    assert.equal(elf.symbols.get('exported_counter')?.kind, 'object');
    assert.equal(elf.symbols.get('exported_counter')?.size, 4);
  });

  it('keeps the exported symbols of a stripped binary', () => {
    const elf = readElf(path.join(dir, 'small-stripped'));
    assert.ok(elf.symbols.has('probe_me'));
    assert.ok(!elf.symbols.has('hidden_function'));
  });

  it('maps a function address to the file offset holding its code', () => {
    const file = path.join(dir, 'small');
    const elf = readElf(file);
    const probe = elf.symbols.get('probe_me');
    assert.ok(probe);
    const offset = fileOffsetOf(elf, probe.value);
    assert.ok(offset !== undefined);
    // objdump is the reference for what bytes live at that address.
    const dump = spawnSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=${probe.value}`, `--stop-address=${probe.value + 1}`, file], {
      encoding: 'utf8',
    });
    assert.match(dump.stdout, /<probe_me>:/);
    const raw = spawnSync('objdump', ['-d', `--start-address=${probe.value}`, `--stop-address=${probe.value + 1}`, file], { encoding: 'utf8' });
    const firstByte = /^\s*[0-9a-f]+:\s+([0-9a-f]{2})/m.exec(raw.stdout)?.[1];
    assert.ok(firstByte, raw.stdout);
    assert.equal(fs.readFileSync(file)[offset], Number.parseInt(firstByte, 16));
    // .bss is not backed by the file.
    assert.equal(fileOffsetOf(elf, elf.symbols.get('hidden_counter')?.value ?? 0), undefined);
  });

  it('finds readline in a linked library through $ORIGIN runpath', () => {
    const found = resolveReadline(path.join(dir, 'shell-runpath'), ONLY_RUNPATH);
    assert.equal(found.kind, 'found', found.kind === 'skipped' ? found.reason : '');
    if (found.kind !== 'found') return;
    const lib = nm(path.join(dir, 'libfakerl.so.1'), true);
    assert.equal(found.module, path.join(dir, 'libfakerl.so.1'));
    assert.equal(found.inExecutable, false);
    assert.equal(found.readline.vaddr, lib.get('readline'));
    assert.equal(found.teardown?.vaddr, lib.get('readline_internal_teardown'));
    assert.equal(found.rlLineBuffer, lib.get('rl_line_buffer'));
    assert.equal(found.rlEnd, lib.get('rl_end'));
    // bash's own variable lives in the shell, read relative to the executable found by its build ID.
    assert.equal(found.commandLineCount, nm(path.join(dir, 'shell-runpath'), false).get('current_command_line_count'));
    assert.deepEqual(found.globalsInExecutable, ['commandLineCount']);
    const shell = readElf(path.join(dir, 'shell-runpath'));
    assert.ok(shell.buildId, 'gcc links with a build ID');
    assert.deepEqual(found.executable, {
      textVaddr: Math.min(...shell.segments.filter((s) => s.executable).map((s) => s.vaddr)),
      buildId: shell.buildId,
    });
  });

  it('reads the build ID like readelf -n does', () => {
    const file = path.join(dir, 'shell-copyreloc');
    const notes = spawnSync('readelf', ['-n', file], { encoding: 'utf8' });
    const expected = /Build ID: ([0-9a-f]+)/.exec(notes.stdout)?.[1];
    assert.ok(expected, notes.stdout);
    const buildId = readElf(file).buildId;
    assert.equal(buildId?.bytes.toString('hex'), expected);
    // Its address is where those bytes are in the file's loaded image.
    const offset = fileOffsetOf(readElf(file), buildId?.vaddr ?? 0);
    assert.ok(offset !== undefined);
    assert.equal(fs.readFileSync(file).subarray(offset, offset + 20).toString('hex'), expected);
    assert.equal(readElf(path.join(dir, 'shell-no-id')).buildId, undefined);
  });

  it('reads copy-relocated readline globals in the executable, as the dynamic linker binds them', () => {
    const file = path.join(dir, 'shell-copyreloc');
    const found = resolveReadline(file, ONLY_RUNPATH);
    assert.equal(found.kind, 'found', found.kind === 'skipped' ? found.reason : '');
    if (found.kind !== 'found') return;
    const exe = nm(file, true);
    assert.ok(exe.has('rl_line_buffer'), 'the link copy-relocated rl_line_buffer into the executable');
    assert.equal(found.module, path.join(dir, 'libfakerl.so.1'));
    assert.equal(found.rlLineBuffer, exe.get('rl_line_buffer'));
    assert.equal(found.rlEnd, exe.get('rl_end'));
    assert.deepEqual([...found.globalsInExecutable].sort(), ['commandLineCount', 'rlEnd', 'rlLineBuffer']);
    assert.ok(found.teardown);
  });

  it('without a build ID the executable cannot be recognised: no globals from it, the uretprobe fallback', () => {
    const found = resolveReadline(path.join(dir, 'shell-no-id'), ONLY_RUNPATH);
    assert.equal(found.kind, 'found');
    if (found.kind !== 'found') return;
    assert.equal(found.executable, undefined);
    assert.deepEqual(found.globalsInExecutable, []);
    // The library's own rl_line_buffer is not the one in use: no teardown probe.
    assert.equal(found.rlLineBuffer, undefined);
    assert.equal(found.teardown, undefined);
    assert.equal(found.commandLineCount, undefined);
  });

  it('searches the given library directories in order', () => {
    const plain = path.join(dir, 'shell-plain');
    const found = resolveReadline(plain, { ...ONLY_RUNPATH, dirs: [path.join(dir, 'old'), dir] });
    assert.equal(found.kind, 'found');
    if (found.kind !== 'found') return;
    assert.equal(found.module, path.join(dir, 'old', 'libfakerl.so.1'));
    // A readline without teardown: the uretprobe fallback is all there is.
    assert.equal(found.teardown, undefined);
    assert.equal(found.rlLineBuffer, undefined);
    const none = resolveReadline(plain, { ...ONLY_RUNPATH, dirs: ['/nonexistent'] });
    assert.equal(none.kind, 'skipped');
    if (none.kind === 'skipped') assert.match(none.reason, /no readline function.*libfakerl\.so\.1/);
  });

  it('skips, with a reason, what cannot be probed', () => {
    const cases: Array<[string, RegExp]> = [
      [path.join(dir, 'small'), /has no readline function/],
      [path.join(dir, 'script.sh'), /not an ELF file/],
      [path.join(dir, 'truncated'), /outside the file|truncated/],
      [path.join(dir, 'missing'), /cannot read .*ENOENT/],
    ];
    for (const [file, reason] of cases) {
      const result = resolveReadline(file);
      assert.equal(result.kind, 'skipped', file);
      if (result.kind === 'skipped') assert.match(result.reason, reason, file);
    }
  });

  it('throws ElfError for a file that is not ELF64', () => {
    assert.throws(() => readElf(path.join(dir, 'script.sh')), ElfError);
    assert.throws(() => readElf(path.join(dir, 'truncated')), (err: unknown) => err instanceof ElfError && /truncated/.test(err.message));
  });
});
