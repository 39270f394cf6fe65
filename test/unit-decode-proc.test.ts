import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError, EventType } from '../receiver/src/decode/layout';
import { ARGV_MEMO_CAPACITY, ARGV_MEMO_MIN_BYTES, ARGV_MEMO_TTL_MS, ArgvBlockMemo, argvBlockHash } from '../receiver/src/decode/argv-memo';
import { ExpiringMap } from '../receiver/src/expiring-map';
import {
  decodeArgvBlock,
  PROC_ARGS_MAX_COUNT,
  PROC_EXEC_HEADER_SIZE,
  PROC_EXEC_LAYOUT,
  PROC_EXIT_LAYOUT,
  PROC_FORK_LAYOUT,
  ProcExecFlag,
  decodeProcExec,
  decodeProcExit,
  decodeProcFork,
  decodeWaitStatus,
  splitArgs,
  ttyName,
  type ProcTermination,
} from '../receiver/src/decode/proc';
import { buildRecord } from './helpers/event-builder';
import { seededRandom } from './helpers/seeded';
import { isShared } from '../receiver/src/shared-arrays';

function execRecord(args: Buffer, extra: Partial<Record<keyof typeof PROC_EXEC_LAYOUT.fields, number | bigint | string | Buffer>> = {}): Buffer {
  return buildRecord(
    PROC_EXEC_LAYOUT,
    {
      type: EventType.ProcExec,
      timestamp_ns: 2_000_000_000n,
      start_ns: 1_500_000_000n,
      cgroup_id: 4242n,
      pid: 100,
      tid: 100,
      ppid: 99,
      old_tid: 100,
      uid: 1000,
      gid: 1001,
      session_id: 90,
      argc: 3,
      args_size: args.length,
      args_size_total: args.length,
      comm: 'echo',
      tty: 'pts3',
      filename: '/bin/echo',
      args,
      ...extra,
    },
    PROC_EXEC_HEADER_SIZE + args.length,
  );
}

const nul = (...parts: string[]): Buffer => Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');

describe('decodeProcExec', () => {
  it('decodes every field of a short exec record', () => {
    const event = decodeProcExec(execRecord(nul('/bin/echo', 'hello', 'a b')));
    assert.deepEqual(event, {
      kind: 'proc_exec',
      timestampNs: 2_000_000_000n,
      startNs: 1_500_000_000n,
      cgroupId: 4242n,
      pid: 100,
      tid: 100,
      ppid: 99,
      oldTid: 100,
      uid: 1000,
      gid: 1001,
      sessionId: 90,
      tty: 'pts/3',
      comm: 'echo',
      filename: '/bin/echo',
      filenameTruncated: false,
      argc: 3,
      args: ['/bin/echo', 'hello', 'a b'],
      argsText: '/bin/echo\0hello\0a b',
      argsTruncated: false,
      argsUnreadable: false,
      argsSizeTotal: 10 + 6 + 4,
    });
  });

  const cases: Array<{ name: string; record: Buffer; args: string[]; argsTruncated?: boolean; argsUnreadable?: boolean; tty?: string; filenameTruncated?: boolean }> = [
    { name: 'keeps empty arguments', record: execRecord(nul('echo', '', 'x', '')), args: ['echo', '', 'x', ''] },
    {
      name: 'keeps the partial last argument of a cut argv',
      record: execRecord(Buffer.from('true\0xxxx', 'utf8'), { flags: ProcExecFlag.ArgsTruncated, args_size_total: 6000 }),
      args: ['true', 'xxxx'],
      argsTruncated: true,
    },
    {
      name: 'flags unreadable argv',
      record: execRecord(Buffer.alloc(0), { flags: ProcExecFlag.ArgsUnreadable }),
      args: [],
      argsUnreadable: true,
    },
    { name: 'no controlling terminal is undefined', record: execRecord(nul('ls'), { tty: Buffer.alloc(16) }), args: ['ls'], tty: undefined },
    {
      name: 'flags a cut filename',
      record: execRecord(nul('x'), { flags: ProcExecFlag.FilenameTruncated }),
      args: ['x'],
      filenameTruncated: true,
    },
    {
      name: 'decodes UTF-8 arguments',
      record: execRecord(nul('printf', 'héllo wörld ✓')),
      args: ['printf', 'héllo wörld ✓'],
    },
    {
      name: `stops at ${PROC_ARGS_MAX_COUNT} arguments and says so`,
      record: execRecord(nul(...Array.from({ length: 70 }, (_, i) => `a${i}`))),
      args: Array.from({ length: PROC_ARGS_MAX_COUNT }, (_, i) => `a${i}`),
      argsTruncated: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const event = decodeProcExec(c.record);
      assert.deepEqual(event.args, c.args);
      assert.equal(event.argsTruncated, c.argsTruncated ?? false);
      assert.equal(event.argsUnreadable, c.argsUnreadable ?? false);
      assert.equal(event.filenameTruncated, c.filenameTruncated ?? false);
      if ('tty' in c) assert.equal(event.tty, c.tty);
    });
  }

  const bad: Array<{ name: string; record: Buffer; reason: DecodeError['reason'] }> = [
    { name: 'shorter than the header', record: execRecord(Buffer.alloc(0)).subarray(0, PROC_EXEC_HEADER_SIZE - 1), reason: 'truncated' },
    { name: 'args_size past the record', record: execRecord(nul('ls'), { args_size: 100 }), reason: 'truncated' },
    { name: 'args_size past the limit', record: execRecord(nul('ls'), { args_size: 5000 }), reason: 'invalid' },
    { name: 'another event type', record: execRecord(nul('ls'), { type: EventType.ProcExit }), reason: 'unknown_type' },
  ];
  for (const c of bad) {
    it(`rejects a record ${c.name}`, () => {
      assert.throws(() => decodeProcExec(c.record), (err: unknown) => err instanceof DecodeError && err.reason === c.reason);
    });
  }
});

describe('decodeProcFork', () => {
  it('decodes every field', () => {
    const record = buildRecord(PROC_FORK_LAYOUT, {
      type: EventType.ProcFork,
      timestamp_ns: 77n,
      cgroup_id: 5n,
      pid: 201,
      ppid: 200,
      parent_tid: 202,
      uid: 0,
      gid: 0,
      comm: 'bash',
    });
    assert.deepEqual(decodeProcFork(record), {
      kind: 'proc_fork',
      timestampNs: 77n,
      cgroupId: 5n,
      pid: 201,
      ppid: 200,
      parentTid: 202,
      uid: 0,
      gid: 0,
      comm: 'bash',
    });
  });
  it('rejects short and mistyped records', () => {
    const record = buildRecord(PROC_FORK_LAYOUT, { type: EventType.ProcFork });
    assert.throws(() => decodeProcFork(record.subarray(0, 63)), (e: unknown) => e instanceof DecodeError && e.reason === 'truncated');
    assert.throws(() => decodeProcFork(buildRecord(PROC_FORK_LAYOUT, { type: 9 })), (e: unknown) => e instanceof DecodeError && e.reason === 'unknown_type');
  });
});

describe('decodeProcExit', () => {
  const statuses: Array<[string, number, ProcTermination]> = [
    ['exit(0)', 0x0000, { kind: 'exited', code: 0 }],
    ['exit(3)', 0x0300, { kind: 'exited', code: 3 }],
    ['exit(255)', 0xff00, { kind: 'exited', code: 255 }],
    ['SIGKILL', 9, { kind: 'signaled', signal: 9, coreDumped: false }],
    ['SIGSEGV with core', 0x80 | 11, { kind: 'signaled', signal: 11, coreDumped: true }],
    ['SIGTERM', 15, { kind: 'signaled', signal: 15, coreDumped: false }],
  ];
  for (const [name, status, termination] of statuses) {
    it(`decodes the wait status of ${name}`, () => {
      assert.deepEqual(decodeWaitStatus(status), termination);
      const event = decodeProcExit(
        buildRecord(PROC_EXIT_LAYOUT, {
          type: EventType.ProcExit,
          exit_code: status,
          timestamp_ns: 3_000n,
          start_ns: 1_000n,
          cgroup_id: 8n,
          pid: 300,
          tid: 301,
          ppid: 1,
          uid: 5,
          gid: 6,
          comm: 'worker',
        }),
      );
      assert.deepEqual(event, {
        kind: 'proc_exit',
        timestampNs: 3_000n,
        startNs: 1_000n,
        durationNs: 2_000n,
        cgroupId: 8n,
        pid: 300,
        tid: 301,
        ppid: 1,
        uid: 5,
        gid: 6,
        comm: 'worker',
        waitStatus: status,
        termination,
      });
    });
  }
  it('never reports a negative duration', () => {
    const event = decodeProcExit(buildRecord(PROC_EXIT_LAYOUT, { type: EventType.ProcExit, timestamp_ns: 1n, start_ns: 5n }));
    assert.equal(event.durationNs, 0n);
  });
  it('rejects a short record', () => {
    const record = buildRecord(PROC_EXIT_LAYOUT, { type: EventType.ProcExit });
    assert.throws(() => decodeProcExit(record.subarray(0, 10)), (e: unknown) => e instanceof DecodeError && e.reason === 'truncated');
  });
});

describe('ttyName', () => {
  const cases: Array<[string, string | undefined]> = [
    ['', undefined],
    ['pts0', 'pts/0'],
    ['pts12', 'pts/12'],
    ['tty1', 'tty1'],
    ['ttyS0', 'ttyS0'],
    ['console', 'console'],
  ];
  for (const [kernel, shown] of cases) {
    it(`${JSON.stringify(kernel)} -> ${String(shown)}`, () => assert.equal(ttyName(kernel), shown));
  }
});

describe('splitArgs', () => {
  const cases: Array<[string, Buffer, string[]]> = [
    ['empty block', Buffer.alloc(0), []],
    ['one argument', nul('ls'), ['ls']],
    ['a lone NUL is one empty argument', Buffer.from([0]), ['']],
    ['no trailing NUL', Buffer.from('a\0b'), ['a', 'b']],
  ];
  for (const [name, block, args] of cases) {
    it(name, () => assert.deepEqual(splitArgs(block).args, args));
  }

  it('keeps at most maxCount arguments and says when more were there', () => {
    assert.deepEqual(splitArgs(nul('a', 'b'), 2), { args: ['a', 'b'], text: 'a\0b', dropped: false });
    assert.deepEqual(splitArgs(Buffer.from('a\0b\0c'), 2), { args: ['a', 'b'], text: 'a\0b', dropped: true });
    // A third, empty argument is still an argument.
    assert.deepEqual(splitArgs(Buffer.from('a\0b\0\0'), 2), { args: ['a', 'b'], text: 'a\0b', dropped: true });
  });

  /** The decoder as it was: one UTF-8 decode per argument, the reference for the whole-block decode. */
  function splitArgsPerArgument(block: Buffer, maxCount: number): { args: string[]; dropped: boolean } {
    const args: string[] = [];
    let start = 0;
    while (start < block.length) {
      if (args.length === maxCount) return { args, dropped: true };
      const end = block.indexOf(0, start);
      const stop = end === -1 ? block.length : end;
      args.push(block.toString('utf8', start, stop));
      start = stop + 1;
    }
    return { args, dropped: false };
  }

  it('gives what a decode per argument gives, on random bytes (cut and invalid UTF-8 included)', () => {
    // A fixed seed: the same 5,000 blocks every run.
    const next = seededRandom(0x9e3779b9);
    // NULs, ASCII, lone continuation bytes, lead bytes of 2-4 byte sequences and whole sequences, mixed.
    const pieces = [[0], [0x61], [0x80], [0xbf], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xff], [0x2d, 0x2d]];
    for (let n = 0; n < 5000; n++) {
      const bytes: number[] = [];
      const length = next(40);
      while (bytes.length < length) bytes.push(...(pieces[next(pieces.length)] as number[]));
      const block = Buffer.from(bytes);
      const maxCount = 1 + next(8);
      const { args, text, dropped } = splitArgs(block, maxCount);
      assert.deepEqual({ args, dropped }, splitArgsPerArgument(block, maxCount), `block ${block.toString('hex')} max ${maxCount}`);
      assert.equal(text, args.join('\0'), `block ${block.toString('hex')} max ${maxCount}: text is the arguments joined with NUL`);
    }
  });
});

describe('decodeArgvBlock (long argv blocks decoded once)', () => {
  /** A long argv block: `tag` first, then 40 flags of 64 bytes (2.6 KB). */
  const longBlock = (tag: string): Buffer => nul(tag, ...Array.from({ length: 40 }, (_, i) => `--flag-${i}=${'v'.repeat(52)}`.slice(0, 64)));

  it('from its second sight on, gives the same shared array for the same bytes, from another buffer', () => {
    const once = decodeArgvBlock(longBlock('same'));
    assert.equal(isShared(once.args), false, 'seen once: not kept');
    const first = decodeArgvBlock(longBlock('same'));
    const again = decodeArgvBlock(Buffer.from(longBlock('same')));
    assert.ok(first.args.length > 1 && isShared(first.args));
    assert.equal(again.args, first.args);
    assert.deepEqual({ ...first, args: [...first.args] }, splitArgs(longBlock('same')));
  });

  it('an argv that never repeats is never kept', () => {
    for (let i = 0; i < 50; i++) assert.equal(isShared(decodeArgvBlock(longBlock(`unique-${i}`)).args), false);
  });

  it('short blocks are decoded afresh, and not shared', () => {
    const block = nul('/bin/true');
    assert.ok(block.length < ARGV_MEMO_MIN_BYTES);
    const a = decodeArgvBlock(block);
    assert.notEqual(decodeArgvBlock(block).args, a.args);
    assert.equal(isShared(a.args), false);
  });

  it('keeps a copy: the record buffer changing later does not change what a block decodes to', () => {
    const block = longBlock('copy-1');
    decodeArgvBlock(block);
    const first = decodeArgvBlock(block);
    block.write('copy-2', 0, 'latin1');
    const second = decodeArgvBlock(block);
    assert.equal(second.args[0], 'copy-2');
    assert.equal(first.args[0], 'copy-1');
    assert.deepEqual([...second.args], splitArgs(block).args);
  });

  it('blocks that differ only between the bytes hashed share a hash and are still told apart', () => {
    const a = longBlock('tag');
    // Change one byte at a time until the hash stays the same: the byte is between two samples.
    let b: Buffer | undefined;
    for (let at = 1; at < a.length - 4 && b === undefined; at++) {
      const candidate = Buffer.from(a);
      candidate[at] = a[at] === 0x77 ? 0x78 : 0x77;
      if (candidate[at - 1] !== 0 && candidate[at + 1] !== 0 && a[at] !== 0 && argvBlockHash(candidate) === argvBlockHash(a)) b = candidate;
    }
    assert.ok(b, 'a byte the hash does not read');
    decodeArgvBlock(a);
    for (let round = 0; round < 3; round++) {
      assert.deepEqual([...decodeArgvBlock(a).args], splitArgs(a).args);
      assert.deepEqual([...decodeArgvBlock(b).args], splitArgs(b).args);
    }
    assert.notDeepEqual(splitArgs(a).args, splitArgs(b).args);
    // The one kept holds the slot; the other is decoded plainly (a loop's counter does not make every exec kept).
    assert.ok(isShared(decodeArgvBlock(a).args));
    assert.equal(isShared(decodeArgvBlock(b).args), false);
  });

  it('holds at most ARGV_MEMO_CAPACITY blocks: the first kept goes first', () => {
    const twice = (tag: string): readonly string[] => {
      decodeArgvBlock(longBlock(tag));
      return decodeArgvBlock(longBlock(tag)).args;
    };
    const oldest = twice('oldest');
    assert.equal(decodeArgvBlock(longBlock('oldest')).args, oldest);
    for (let i = 0; i < ARGV_MEMO_CAPACITY; i++) twice(`filler-${i}`);
    const again = twice('oldest');
    assert.notEqual(again, oldest);
    assert.deepEqual(again, oldest);
  });

  it('keeps a block ARGV_MEMO_TTL_MS after decoding it, hits or not, then drops it on its own', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 1_000;
    let decodes = 0;
    const memo = new ArgvBlockMemo((block) => {
      decodes++;
      return splitArgs(block);
    }, (value) => value, () => now);
    const block = longBlock('ttl');
    memo.get(block);
    const first = memo.get(block);
    now += ARGV_MEMO_TTL_MS - 1;
    assert.equal(memo.get(block), first);
    assert.equal(decodes, 2);
    // No event comes: the timer drops it (the raw argv is not kept until something else pushes it out).
    now += 1;
    t.mock.timers.tick(ARGV_MEMO_TTL_MS);
    assert.equal(memo.size, 0);
    assert.notEqual(memo.get(block), first);
    // Keeping something else also drops what expired.
    memo.get(longBlock('other'));
    memo.get(longBlock('other'));
    now += ARGV_MEMO_TTL_MS;
    memo.get(longBlock('third'));
    memo.get(longBlock('third'));
    assert.equal(memo.size, 1);
  });

  it('two kept blocks in turn: each gets its own array (the last one returned is only compared first)', () => {
    const a = longBlock('turn-a');
    const b = longBlock('turn-b');
    for (const block of [a, a, b, b]) decodeArgvBlock(block);
    const [keptA, keptB] = [decodeArgvBlock(a).args, decodeArgvBlock(b).args];
    for (let i = 0; i < 4; i++) {
      assert.equal(decodeArgvBlock(Buffer.from(a)).args, keptA);
      assert.equal(decodeArgvBlock(Buffer.from(b)).args, keptB);
      assert.deepEqual([...decodeArgvBlock(longBlock('turn-c')).args], splitArgs(longBlock('turn-c')).args);
    }
  });

  it('decodeProcExec uses it: an exec record seen again shares its args', () => {
    const record = execRecord(longBlock('/usr/bin/cc'));
    decodeProcExec(record);
    assert.equal(decodeProcExec(record).args, decodeProcExec(Buffer.from(record)).args);
  });
});

describe('ExpiringMap (what keeps raw argv: the decoder memo, the redactor\'s last argv per program)', () => {
  it('drops the entry set longest ago past capacity, and entries ttlMs after they were set', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const map = new ExpiringMap<string, number>(2, 100, () => now);
    map.set('a', 1);
    map.set('b', 2);
    assert.equal(map.get('a'), 1, 'a lookup does not make it newer');
    map.set('c', 3);
    assert.equal(map.get('a'), undefined);
    assert.deepEqual([map.get('b'), map.get('c')], [2, 3]);
    now = 50;
    map.set('b', 20); // set again: newest, until 150
    now = 100;
    assert.equal(map.get('c'), undefined, 'set at 0, gone at 100');
    assert.equal(map.get('b'), 20);
    // Nothing calls in: the timer drops the rest.
    now = 150;
    t.mock.timers.tick(150);
    assert.equal(map.size, 0);
  });

  it('refuses a capacity below 1 or a TTL that is not positive', () => {
    assert.throws(() => new ExpiringMap(0, 100), RangeError);
    assert.throws(() => new ExpiringMap(1, 0), RangeError);
  });
});
