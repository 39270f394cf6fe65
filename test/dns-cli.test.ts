/**
 * The dns probe as a user meets it on the command line: a --libc that is
 * not a C library is reported with the reason and the fix; the agent goes
 * on without the probe when others run, and exits 1 when it was the only one.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { startAgent } from './helpers/agent';

describe('dns probe: --dns-source', () => {
  it('sockets on a kernel (BTF) without the tracepoints: exit 1, names the tracepoints and the fix', async () => {
    // A readable file that is no kernel's BTF: no btf_trace_sock_recv_length in it.
    const run = startAgent(['--probes', 'dns', '--dns-source', 'sockets', '--btf', '/etc/hostname', '--exporter', 'jsonl']);
    assert.equal(await run.exited, 1);
    assert.match(run.stderr(), /--dns-source sockets needs the tracepoints sock_send_length and sock_recv_length \(Linux 6\.3\+\)/);
    assert.match(run.stderr(), /use --dns-source libc/);
    assert.doesNotMatch(run.stderr(), /\n\s+at /, 'no stack trace');
  });

  it('auto on this kernel (6.18): the socket source, said once at start', async () => {
    const run = startAgent(['--probes', 'dns', '--exporter', 'jsonl', '--duration', '1']);
    assert.equal(await run.exited, 0, run.stderr());
    assert.equal((run.stderr().match(/dns: source sockets \(--dns-source auto: the kernel has the sock_recv_length tracepoint\)/g) ?? []).length, 1, run.stderr());
  });
});

describe('dns probe: bad --libc', () => {
  it('alone: exit 1, names the file, the reason and the flag', async () => {
    const run = startAgent(['--probes', 'dns', '--dns-source', 'libc', '--libc', '/etc/hostname', '--exporter', 'jsonl']);
    assert.equal(await run.exited, 1);
    assert.match(run.stderr(), /no C library with resolver functions found/);
    assert.match(run.stderr(), /\/etc\/hostname: .*not an ELF file/);
    assert.match(run.stderr(), /name it with --libc PATH/);
    assert.doesNotMatch(run.stderr(), /\n\s+at /, 'no stack trace');
  });

  it('beside another probe: a warning, and the agent runs without it', async () => {
    const run = startAgent(['--probes', 'exec,dns', '--dns-source', 'libc', '--libc', '/nonexistent/libc.so.6', '--exporter', 'jsonl', '--duration', '1']);
    assert.equal(await run.exited, 0, run.stderr());
    assert.match(run.stderr(), /dns: dns probe: no C library .*\n\s+\/nonexistent\/libc\.so\.6: cannot read it: ENOENT[^\n]*\n[^\n]*\(continuing without it\)/);
    assert.match(run.stderr(), /exec: watching process exec/);
  });

  it('a named library: only that one is probed, and it says so', async () => {
    // The system's libc.so.6, as glibc's own ldconfig names it.
    const libc = /^\s+libc\.so\.6 \(.*\) => (\S+)$/m.exec(execFileSync('ldconfig', ['-p'], { encoding: 'utf8' }))?.[1];
    assert.ok(libc, 'ldconfig -p lists libc.so.6');
    const run = startAgent(['--probes', 'dns', '--dns-source', 'libc', '--libc', libc, '--exporter', 'jsonl', '--duration', '1']);
    assert.equal(await run.exited, 0, run.stderr());
    assert.ok(run.stderr().includes(`dns: watching getaddrinfo, gethostbyname, gethostbyname2, gethostbyname_r, gethostbyname2_r in ${libc} (configured)`), run.stderr());
    assert.equal((run.stderr().match(/dns: watching/g) ?? []).length, 1);
  });
});
