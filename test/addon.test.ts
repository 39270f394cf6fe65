// The generic libbpf addon against the real kernel, using the test-only
// programs in test/fixtures/addon_fixture.bpf.c (built by
// `make -C bpf fixtures` into build/test-bpf/). Needs root.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BpfError,
  BpfObject,
  clockPair,
  libbpfVersion,
  possibleCpus,
  splitBatch,
  type BtfMember,
} from '../addon/lib/index.js';
import { ensureTracefs } from './helpers/tracefs.js';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'build/test-bpf/addon_fixture.bpf.o');
const UPROBE_TARGET = path.join(ROOT, 'build/test-bpf/uprobe_target');
const ADDON_JS = path.join(ROOT, 'dist/addon/lib/index.js');
const EXEC_EVENT_SIZE = 24; // struct fixture_exec_event
const IMPOSSIBLE_PID = 0x7ffffffe;

interface ExecEvent {
  pid: number;
  ppid: number;
  comm: string;
}

function decodeExec(record: Buffer): ExecEvent {
  assert.equal(record.length, EXEC_EVENT_SIZE);
  const comm = record.subarray(8, 24);
  const end = comm.indexOf(0);
  return { pid: record.readUInt32LE(0), ppid: record.readUInt32LE(4), comm: comm.subarray(0, end < 0 ? 16 : end).toString() };
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

/** Runs /bin/true `count` times; returns the children's pids (each exec fires sched_process_exec once). */
function execTrue(count: number): number[] {
  const pids: number[] = [];
  for (let i = 0; i < count; i++) {
    const result = spawnSync('/bin/true');
    assert.equal(result.status, 0);
    assert.ok(result.pid !== undefined);
    pids.push(result.pid);
  }
  return pids;
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function assertBpfError(error: unknown, expected: { op?: string; code?: string | string[]; message?: RegExp }): true {
  assert.ok(error instanceof BpfError, `expected a BpfError, got ${String(error)}`);
  if (expected.op !== undefined) assert.equal(error.op, expected.op);
  if (expected.code !== undefined) {
    const codes = Array.isArray(expected.code) ? expected.code : [expected.code];
    assert.ok(codes.includes(error.code), `code ${error.code} not in ${codes.join(', ')} (${error.message})`);
  }
  if (expected.message !== undefined) assert.match(error.message, expected.message);
  assert.equal(typeof error.errno, 'number');
  return true;
}

/** Opens the fixture with the exec filter set to our own children. */
function openFixture(parentFilter = process.pid): BpfObject {
  const object = BpfObject.open(FIXTURE);
  object.setGlobal('parent_tgid_filter', u32(parentFilter));
  return object;
}

before(() => {
  for (const file of [FIXTURE, UPROBE_TARGET]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run make -C bpf fixtures (scripts/bootstrap.sh test does it)`);
  }
  ensureTracefs();
});

describe('module functions', () => {
  test('libbpfVersion names the system libbpf', () => {
    assert.match(libbpfVersion(), /^v?1\.\d+/);
  });

  test('clockPair pairs CLOCK_REALTIME with CLOCK_MONOTONIC', () => {
    const before = process.hrtime.bigint(); // libuv's hrtime is CLOCK_MONOTONIC
    const pair = clockPair();
    const after = process.hrtime.bigint();
    assert.ok(pair.monotonicNs >= before && pair.monotonicNs <= after, `${before} <= ${pair.monotonicNs} <= ${after}`);
    const wallNs = BigInt(Date.now()) * 1_000_000n;
    const skew = pair.realtimeNs > wallNs ? pair.realtimeNs - wallNs : wallNs - pair.realtimeNs;
    assert.ok(skew < 50_000_000n, `realtime ${pair.realtimeNs} vs Date.now ${wallNs}`);
  });

  test('possibleCpus is at least the online CPU count', () => {
    assert.ok(possibleCpus() >= 1);
  });

  test('splitBatch rejects truncated framing', () => {
    assert.deepEqual(splitBatch(Buffer.from([1, 0, 0, 0, 9, 0, 0, 0, 0])).map((r) => [...r]), [[9], []]);
    assert.throws(() => splitBatch(Buffer.from([5, 0, 0, 0, 1])), /truncated/);
    assert.throws(() => splitBatch(Buffer.from([1, 0])), /truncated/);
  });
});

describe('open and inspect', () => {
  test('a missing file is a BpfError ENOENT naming the path', () => {
    assert.throws(() => BpfObject.open('/nonexistent/nothing.bpf.o'), (error) =>
      assertBpfError(error, { op: 'open', code: 'ENOENT', message: /\/nonexistent\/nothing\.bpf\.o/ }));
  });

  test('a file that is not ELF is a BpfError', () => {
    assert.throws(() => BpfObject.open(__filename), (error) => assertBpfError(error, { op: 'open' }));
  });

  test('programs() and maps() describe the object', () => {
    const object = BpfObject.open(FIXTURE);
    try {
      const programs = new Map(object.programs().map((p) => [p.name, p]));
      assert.deepEqual(programs.get('handle_exec'), {
        name: 'handle_exec', section: 'tracepoint/sched/sched_process_exec', type: 'tracepoint', autoload: true,
      });
      assert.equal(programs.get('count_exec_raw')?.type, 'raw_tracepoint');
      assert.equal(programs.get('fixture_add_return')?.section, 'uretprobe');
      assert.equal(programs.get('fixture_rejected')?.autoload, false, 'SEC("?...") starts with autoload off');
      const maps = new Map(object.maps().map((m) => [m.name, m]));
      assert.deepEqual(maps.get('exec_count_by_tgid'), { name: 'exec_count_by_tgid', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1024 });
      assert.equal(maps.get('exec_total_percpu')?.type, 'percpu_array');
      assert.equal(maps.get('exec_events')?.type, 'ringbuf');
      assert.ok([...maps.keys()].some((name) => name.endsWith('.rodata')));
    } finally {
      object.close();
    }
  });

  test('btfStruct reports the compiler layout, padding and bitfields included', () => {
    const object = BpfObject.open(FIXTURE);
    try {
      const layout = object.btfStruct('fixture_layout');
      assert.equal(layout.name, 'fixture_layout');
      assert.equal(layout.size, 40);
      const summary = layout.members.map((m: BtfMember) => [m.name, m.offset, m.size, m.bitfieldSize]);
      assert.deepEqual(summary, [
        ['kind', 0, 1, 0],
        ['pid', 4, 4, 0],
        ['start_ns', 8, 8, 0],
        ['comm', 16, 16, 0],
        ['port', 32, 2, 0],
        ['flags', 34, 2, 3],
        ['reserved', 34, 2, 13],
      ]);
      assert.equal(layout.members[5]?.bitOffset, 272);
      assert.equal(layout.members[6]?.bitOffset, 275);
      assert.throws(() => object.btfStruct('no_such_struct'), (error) => assertBpfError(error, { op: 'btf_struct', code: 'ENOENT' }));
    } finally {
      object.close();
    }
  });

  test('setGlobal and setMapMaxEntries validate before touching the object', () => {
    const object = BpfObject.open(FIXTURE);
    try {
      assert.throws(() => object.setGlobal('parent_tgid_filter', Buffer.alloc(8)), (error) =>
        assertBpfError(error, { op: 'set_global', code: 'EINVAL', message: /4 bytes, the value is 8/ }));
      assert.throws(() => object.setGlobal('no_such_global', u32(1)), (error) =>
        assertBpfError(error, { op: 'set_global', code: 'ENOENT', message: /no_such_global/ }));
      assert.throws(() => object.setGlobal('parent_tgid_filter', 'x' as unknown as Buffer), TypeError);
      assert.throws(() => object.setAutoload('nope', true), (error) =>
        assertBpfError(error, { code: 'ENOENT', message: /no program 'nope'.*handle_exec/ }));
      object.setMapMaxEntries('exec_events', 128 * 1024);
      assert.equal(object.maps().find((m) => m.name === 'exec_events')?.maxEntries, 128 * 1024);
      assert.throws(() => object.attach('handle_exec'), (error) => assertBpfError(error, { code: 'EINVAL', message: /load\(\) first/ }));
      assert.throws(() => object.map('exec_count_by_tgid'), (error) => assertBpfError(error, { message: /load\(\) first/ }));
      object.load();
      assert.throws(() => object.setGlobal('parent_tgid_filter', u32(1)), (error) => assertBpfError(error, { code: 'EBUSY', message: /before load/ }));
      assert.throws(() => object.setMapMaxEntries('exec_events', 4096), (error) => assertBpfError(error, { code: 'EBUSY' }));
      assert.throws(() => object.load(), (error) => assertBpfError(error, { code: 'EBUSY' }));
    } finally {
      object.close();
    }
  });
});

describe('load', () => {
  test('a program the verifier refuses fails load() with the verifier log', () => {
    const object = BpfObject.open(FIXTURE);
    try {
      object.setAutoload('fixture_rejected', true);
      assert.throws(() => object.load(), (error) => {
        assertBpfError(error, { op: 'load', code: ['EACCES', 'EINVAL'] });
        const bpfError = error as BpfError;
        assert.match(bpfError.libbpfLog, /BEGIN PROG LOAD LOG/);
        assert.match(bpfError.libbpfLog, /invalid mem access/);
        assert.match(bpfError.message, /verifier rejected program 'fixture_rejected'/);
        assert.match(bpfError.message, /invalid mem access/, 'the message carries the tail of the verifier log');
        return true;
      });
    } finally {
      object.close();
    }
  });
});

describe('load, interrupted', () => {
  test('a load the verifier gives up on because of pending signals says so, and what to do (node --cpu-prof, a real program)', (t) => {
    // V8's sampling profiler signals the main thread every 10 µs: the verifier stops with EAGAIN
    // on a pending signal, on each of libbpf's attempts (it was so on 5 of 5 runs here).
    const script = `const { BpfObject } = require(${JSON.stringify(ADDON_JS)});
const o = BpfObject.open(${JSON.stringify(path.join(ROOT, 'build/bpf/proc.bpf.o'))});
try { o.load(); console.log(JSON.stringify({ loaded: true })); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } finally { o.close(); }`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eo-cpuprof-'));
    try {
      const run = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '10', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { loaded?: boolean; code?: string; message?: string };
      if (result.loaded === true) {
        t.diagnostic('the programs loaded between the profiler\'s signals: nothing to check this time');
        return;
      }
      assert.equal(result.code, 'EAGAIN', run.stdout + run.stderr);
      assert.match(result.message ?? '', /the verifier was interrupted by a signal while checking program '/);
      assert.doesNotMatch(result.message ?? '', /verifier rejected/);
      assert.match(result.message ?? '', /hint: something kept signalling this process .*node --cpu-prof/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tracepoint and ring buffer', () => {
  test('execs already in the ring arrive in one batch, framed, with counters in hash and per-CPU maps', async () => {
    const object = openFixture();
    try {
      object.load();
      object.attach('handle_exec'); // by section: tracepoint/sched/sched_process_exec
      const pids = execTrue(10); // all ten sit in the kernel ring before the reader starts

      const seen: ExecEvent[] = [];
      const batchCounts: number[] = [];
      const reader = object.openRingBuffer('exec_events', (data, count) => {
        const records = splitBatch(data);
        assert.equal(records.length, count);
        batchCounts.push(count);
        seen.push(...records.map(decodeExec));
      });
      await waitFor('10 exec events', () => seen.length >= 10);
      reader.close();

      assert.deepEqual(seen.map((e) => e.pid).sort(), [...pids].sort());
      for (const event of seen) {
        assert.equal(event.ppid, process.pid);
        assert.equal(event.comm, 'true');
      }
      assert.ok(batchCounts.length < seen.length, `expected batching, got batches of ${batchCounts.join(', ')}`);
      assert.deepEqual(reader.stats(), { batches: batchCounts.length, records: 10, bytes: 10 * EXEC_EVENT_SIZE, readErrors: 0 });

      const byTgid = object.map('exec_count_by_tgid');
      const counted = byTgid.entries().map(([key, value]) => [key.readUInt32LE(0), Number(value.readBigUInt64LE(0))]);
      assert.deepEqual(counted.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0)), pids.map((pid) => [pid, 1]).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0)));
      assert.equal(byTgid.keys().length, 10);

      const perCpu = object.map('exec_total_percpu');
      assert.equal(perCpu.isPerCpu, true);
      const raw = perCpu.lookup(u32(0));
      assert.ok(raw !== null);
      assert.equal(raw.length, perCpu.possibleCpus * 8);
      const slots = perCpu.lookupPerCpu(u32(0));
      assert.ok(slots !== null);
      assert.equal(slots.reduce((sum, slot) => sum + slot.readBigUInt64LE(0), 0n), 10n);
    } finally {
      object.close();
    }
  });

  test('setGlobal changes what the program does: a filter for another parent sees none of our execs', () => {
    const object = openFixture(IMPOSSIBLE_PID);
    try {
      object.load();
      object.attachTracepoint('handle_exec', 'sched', 'sched_process_exec');
      let records = 0;
      const reader = object.openRingBuffer('exec_events', (_data, count) => { records += count; });
      execTrue(5);
      assert.equal(reader.consume(), 0);
      assert.equal(records, 0);
      assert.equal(object.map('exec_count_by_tgid').keys().length, 0);
    } finally {
      object.close();
    }
  });

  test('consume() delivers synchronously, and maxBatchBytes bounds batches', () => {
    const object = openFixture();
    try {
      object.load();
      object.attachTracepoint('handle_exec', 'sched', 'sched_process_exec');
      const seen: number[] = [];
      const batchCounts: number[] = [];
      const reader = object.openRingBuffer('exec_events', (data, count) => {
        batchCounts.push(count);
        seen.push(...splitBatch(data).map((r) => decodeExec(r).pid));
      }, { maxBatchBytes: 64, pollTimeoutMs: 20 });
      const pids = execTrue(8);
      const delivered = reader.consume();
      // Everything not yet delivered came through consume() before it returned.
      assert.deepEqual([...seen].sort(), [...pids].sort());
      assert.ok(delivered <= 8);
      // 28 framed bytes per record: a batch closes once it reaches 64 bytes.
      for (const count of batchCounts) assert.ok(count >= 1 && count <= 3, `batch of ${count}`);
      reader.close();
      assert.throws(() => reader.consume(), (error) => assertBpfError(error, { code: 'EBADF' }));
      reader.close();
    } finally {
      object.close();
    }
  });

  test('close() from inside onBatch stops delivery', async () => {
    const object = openFixture();
    try {
      object.load();
      object.attach('handle_exec');
      execTrue(6);
      let calls = 0;
      const reader = object.openRingBuffer('exec_events', () => {
        calls++;
        reader.close();
      }, { maxBatchBytes: 64 });
      await waitFor('the first batch', () => calls > 0);
      // Sentinel: a new reader on the same ring gets what was left and what comes next; the closed one got nothing more.
      let after = 0;
      const second = object.openRingBuffer('exec_events', (_batch, count) => { after += count; });
      execTrue(1);
      await waitFor('records in the new reader', () => after > 0);
      second.close();
      assert.equal(calls, 1);
    } finally {
      object.close();
    }
  });

  test('an exception thrown by onBatch inside consume() reaches its caller', () => {
    const object = openFixture();
    try {
      object.load();
      object.attach('handle_exec');
      execTrue(2);
      // All synchronous: whatever the thread drained meanwhile waits in its
      // queue, and consume() delivers that too, so nothing is left for later.
      const reader = object.openRingBuffer('exec_events', () => { throw new Error('onBatch failed on purpose'); });
      assert.throws(() => reader.consume(), /onBatch failed on purpose/);
      reader.close();
    } finally {
      object.close();
    }
  });

  test('openRingBuffer refuses a map that is not a ringbuf', () => {
    const object = openFixture();
    try {
      object.load();
      assert.throws(() => object.openRingBuffer('exec_count_by_tgid', () => {}), (error) =>
        assertBpfError(error, { code: 'EINVAL', message: /hash map, not a ringbuf/ }));
    } finally {
      object.close();
    }
  });

  test('raw tracepoint counts into a .bss global', () => {
    const object = openFixture();
    try {
      object.load();
      const link = object.attachRawTracepoint('count_exec_raw', 'sched_process_exec');
      execTrue(3);
      const bss = object.map('.bss');
      const value = bss.lookup(u32(0));
      assert.ok(value !== null);
      assert.ok(value.readBigUInt64LE(0) >= 3n, `raw_exec_total = ${value.readBigUInt64LE(0)}`);
      link.destroy();
      const stopped = bss.lookup(u32(0))?.readBigUInt64LE(0);
      execTrue(2);
      assert.equal(bss.lookup(u32(0))?.readBigUInt64LE(0), stopped, 'a destroyed link no longer fires');
      link.destroy();
    } finally {
      object.close();
    }
  });

  test('when JS is slow the reader stops draining and the kernel ring fills (no unbounded queue)', () => {
    const object = openFixture();
    try {
      object.setMapMaxEntries('exec_events', 4096); // one page: ~146 records of 24 bytes
      object.load();
      object.attach('handle_exec');
      let records = 0;
      const reader = object.openRingBuffer('exec_events', (_data, count) => { records += count; }, { maxBatchBytes: 64, maxQueuedBytes: 256 });
      // JS stays busy (no event loop turn) for all 300 execs; the thread may
      // queue only a few small batches (256 bytes), the rest must wait in the kernel ring.
      execTrue(300);
      const delivered = reader.consume();
      assert.equal(delivered, records);
      assert.ok(records > 100 && records < 300, `${records} of 300 execs delivered: the ring should have overflowed`);
      assert.equal(object.map('exec_count_by_tgid').keys().length, 300, 'the program itself saw every exec');
    } finally {
      object.close();
    }
  });

  test('without tracefs, tracepoint attach fails with a hint to mount it (checked in a private mount namespace)', () => {
    const script = `
      const { BpfObject } = require(${JSON.stringify(ADDON_JS)});
      const object = BpfObject.open(${JSON.stringify(FIXTURE)});
      object.load();
      try { object.attachTracepoint('handle_exec', 'sched', 'sched_process_exec'); console.log('attached'); }
      catch (error) { console.log(error.code + ' ' + error.message); }
    `;
    // Unmounting only inside the new namespace leaves the machine's tracefs alone.
    const run = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      'umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; exec "$0" -e "$1"', process.execPath, script]);
    assert.equal(run.status, 0, run.stderr.toString());
    assert.match(run.stdout.toString(), /^ENOENT .*\n[\s\S]*hint: tracefs is not mounted: mount -t tracefs tracefs \/sys\/kernel\/tracing/);
  });

  test('a missing tracepoint is a clear BpfError', () => {
    const object = openFixture();
    try {
      object.load();
      assert.throws(() => object.attachTracepoint('handle_exec', 'sched', 'no_such_tracepoint'), (error) =>
        assertBpfError(error, { op: 'attach_tracepoint', code: 'ENOENT', message: /sched:no_such_tracepoint/ }));
    } finally {
      object.close();
    }
  });
});

describe('uprobes', () => {
  test('uprobe and uretprobe fire on a real call with its arguments and result', () => {
    const object = openFixture();
    try {
      object.load();
      object.attachUprobe('fixture_add_entry', { binaryPath: UPROBE_TARGET, symbol: 'fixture_add', retprobe: false });
      object.attachUprobe('fixture_add_return', { binaryPath: UPROBE_TARGET, symbol: 'fixture_add', retprobe: true });
      const run = spawnSync(UPROBE_TARGET, ['2', '40']);
      assert.equal(run.stdout.toString().trim(), '42');
      const calls = object.map('add_calls');
      const call = calls.lookup(u32(run.pid));
      assert.ok(call !== null, 'the uprobe recorded the call');
      assert.deepEqual([call.readInt32LE(0), call.readInt32LE(4), call.readInt32LE(8), call.readUInt32LE(12)], [2, 40, 42, 1]);

      // update/delete through the same map
      const key = u32(7);
      calls.update(key, Buffer.alloc(16, 1));
      assert.deepEqual(calls.lookup(key), Buffer.alloc(16, 1));
      assert.equal(calls.delete(key), true);
      assert.equal(calls.delete(key), false);
      assert.equal(calls.lookup(key), null);
      assert.throws(() => calls.update(u32(8), Buffer.alloc(15)), RangeError);
      assert.throws(() => calls.lookup(Buffer.alloc(8)), /4-byte keys/);
    } finally {
      object.close();
    }
  });

  test('a uprobe limited to another pid does not fire', () => {
    const object = openFixture();
    try {
      object.load();
      object.attachUprobe('fixture_add_entry', { binaryPath: UPROBE_TARGET, symbol: 'fixture_add', retprobe: false, pid: process.pid });
      const run = spawnSync(UPROBE_TARGET, ['1', '1']);
      assert.equal(run.status, 0);
      assert.equal(object.map('add_calls').lookup(u32(run.pid)), null);
    } finally {
      object.close();
    }
  });

  test('a missing symbol or binary is a clear BpfError', () => {
    const object = openFixture();
    try {
      object.load();
      assert.throws(() => object.attachUprobe('fixture_add_entry', { binaryPath: UPROBE_TARGET, symbol: 'no_such_function', retprobe: false }), (error) =>
        assertBpfError(error, { op: 'attach_uprobe', code: 'ENOENT', message: /no_such_function[\s\S]*failed to find symbol/ }));
      assert.throws(() => object.attachUprobe('fixture_add_entry', { binaryPath: '/nonexistent/binary', symbol: 'main', retprobe: false }), (error) =>
        assertBpfError(error, { op: 'attach_uprobe', code: 'ENOENT', message: /\/nonexistent\/binary/ }));
      assert.throws(() => object.attachUprobe('fixture_add_entry', { binaryPath: UPROBE_TARGET, retprobe: false }), TypeError);
      assert.throws(() => object.attach('fixture_add_entry'), (error) =>
        assertBpfError(error, { op: 'attach', code: 'EOPNOTSUPP', message: /use attachUprobe\(\)/ }));
    } finally {
      object.close();
    }
  });
});

describe('lifecycle', () => {
  test('close twice, then every use is a BpfError EBADF, never a crash', () => {
    const object = openFixture();
    object.load();
    const link = object.attach('handle_exec');
    const map = object.map('exec_count_by_tgid');
    const reader = object.openRingBuffer('exec_events', () => {});
    object.close();
    object.close();
    assert.equal(object.closed, true);
    assert.throws(() => object.maps(), (error) => assertBpfError(error, { code: 'EBADF', message: /closed/ }));
    assert.throws(() => object.attach('handle_exec'), (error) => assertBpfError(error, { code: 'EBADF' }));
    assert.throws(() => object.load(), (error) => assertBpfError(error, { code: 'EBADF' }));
    assert.throws(() => map.keys(), (error) => assertBpfError(error, { code: 'EBADF' }));
    assert.throws(() => map.lookup(u32(1)), (error) => assertBpfError(error, { code: 'EBADF' }));
    assert.throws(() => reader.consume(), (error) => assertBpfError(error, { code: 'EBADF' }));
    assert.deepEqual(reader.stats(), { batches: 0, records: 0, bytes: 0, readErrors: 0 });
    link.destroy();
    reader.close();
    reader.unref();
  });

  const childScript = (tail: string, onBatch = '() => {}'): string => `
    const { BpfObject } = require(${JSON.stringify(ADDON_JS)});
    const object = BpfObject.open(${JSON.stringify(FIXTURE)});
    object.load();
    object.attach('handle_exec');
    object.attachUprobe('fixture_add_entry', { binaryPath: ${JSON.stringify(UPROBE_TARGET)}, symbol: 'fixture_add', retprobe: false });
    const reader = object.openRingBuffer('exec_events', ${onBatch});
    require('node:child_process').spawnSync('/bin/true');
    ${tail}
  `;

  interface ChildResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

  function runChild(script: string, timeoutMs: number, nodeFlags: string[] = []): Promise<ChildResult> {
    return new Promise((resolve) => {
      const started = Date.now();
      const child = spawn(process.execPath, [...nodeFlags, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
      });
    });
  }

  test('an open reader keeps its object alive when the program drops both', async () => {
    const script = `
      const { BpfObject } = require(${JSON.stringify(ADDON_JS)});
      let records = 0;
      (() => {
        const object = BpfObject.open(${JSON.stringify(FIXTURE)});
        object.setGlobal('parent_tgid_filter', Buffer.from(new Uint32Array([process.pid]).buffer));
        object.load();
        object.attach('handle_exec');
        object.openRingBuffer('exec_events', (_data, count) => { records += count; }).unref();
      })();
      global.gc();
      setTimeout(() => {
        global.gc();
        for (let i = 0; i < 3; i++) require('node:child_process').spawnSync('/bin/true');
        setTimeout(() => { console.log(records); process.exit(0); }, 500);
      }, 50);
    `;
    const result = await runChild(script, 10_000, ['--expose-gc']);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout.trim(), '3');
  });

  test('setLibbpfDebug(true) sends libbpf debug output to stderr; off, a clean run prints nothing', async () => {
    const script = `
      const { BpfObject, setLibbpfDebug } = require(${JSON.stringify(ADDON_JS)});
      setLibbpfDebug(process.argv[1] === 'debug');
      const object = BpfObject.open(${JSON.stringify(FIXTURE)});
      object.load();
      object.close();
    `;
    const withDebug = await runChild(script.replace("process.argv[1] === 'debug'", 'true'), 10_000);
    assert.equal(withDebug.code, 0);
    assert.match(withDebug.stderr, /libbpf: /);
    const quiet = await runChild(script.replace("process.argv[1] === 'debug'", 'false'), 10_000);
    assert.equal(quiet.code, 0);
    assert.equal(quiet.stderr, '');
  });

  test('process.exit() without close() exits cleanly (env cleanup hook)', async () => {
    const result = await runChild(childScript('setTimeout(() => process.exit(0), 100);'), 10_000);
    assert.deepEqual({ code: result.code, signal: result.signal, stderr: result.stderr }, { code: 0, signal: null, stderr: '' });
  });

  test('an unref()d reader lets the script end on its own', async () => {
    const result = await runChild(childScript('reader.unref();'), 10_000);
    assert.deepEqual({ code: result.code, signal: result.signal, stderr: result.stderr }, { code: 0, signal: null, stderr: '' });
  });

  test('an open reader keeps the process alive until closed', async () => {
    const result = await runChild(childScript('setTimeout(() => { reader.close(); }, 600);'), 10_000);
    assert.equal(result.code, 0);
    assert.equal(result.stderr, '');
    assert.ok(result.ms >= 600, `exited after ${result.ms} ms, before the reader was closed`);
  });

  test('an exception thrown by onBatch is an uncaught exception, not a crash or a hang', async () => {
    const script = childScript('', "() => { throw new Error('onBatch failed on purpose'); }");
    const result = await runChild(script, 10_000);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /onBatch failed on purpose/);
  });
});
