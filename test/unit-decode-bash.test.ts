import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError, EventType } from '../receiver/src/decode/layout';
import {
  BASH_LINE_MAX,
  BASH_PROMPT_LAYOUT,
  BASH_READLINE_HEADER_SIZE,
  BASH_READLINE_LAYOUT,
  BashLineFlag,
  decodeBashPrompt,
  decodeBashReadline,
  type BashReadlineEvent,
} from '../receiver/src/decode/bash';
import { buildRecord } from './helpers/event-builder';

/** A line record as the kernel sends it: header, line bytes, NUL. */
function lineRecord(line: string, fields: { flags?: number; line_len?: number; command_line?: number } = {}): Buffer {
  const bytes = Buffer.from(line, 'utf8');
  return buildRecord(
    BASH_READLINE_LAYOUT,
    {
      type: EventType.BashReadline,
      timestamp_ns: 123n,
      cgroup_id: 9n,
      pid: 500,
      tid: 500,
      uid: 1000,
      gid: 1000,
      line_size: bytes.length,
      line_len: fields.line_len ?? bytes.length,
      command_line: fields.command_line ?? 0,
      flags: fields.flags ?? 0,
      comm: 'bash',
      line: bytes,
    },
    BASH_READLINE_HEADER_SIZE + bytes.length + 1,
  );
}

describe('decodeBashReadline', () => {
  it('decodes every field', () => {
    assert.deepEqual(decodeBashReadline(lineRecord('ls -la')), {
      kind: 'bash_readline',
      timestampNs: 123n,
      cgroupId: 9n,
      pid: 500,
      tid: 500,
      uid: 1000,
      gid: 1000,
      comm: 'bash',
      line: 'ls -la',
      lineLength: 6,
      truncated: false,
      lengthKnown: true,
      eof: false,
      unreadable: false,
      fromReturn: false,
      commandLine: 0,
    } satisfies BashReadlineEvent);
  });

  const long = 'y'.repeat(BASH_LINE_MAX - 1);
  const cases: Array<{ name: string; record: Buffer; expect: Partial<BashReadlineEvent> }> = [
    { name: 'an empty line', record: lineRecord(''), expect: { line: '', lineLength: 0, eof: false } },
    { name: 'end of input', record: lineRecord('', { flags: BashLineFlag.Eof }), expect: { line: '', eof: true } },
    {
      name: 'a cut line with its real length',
      record: lineRecord(long, { flags: BashLineFlag.Truncated, line_len: 5013 }),
      expect: { line: long, lineLength: 5013, truncated: true, lengthKnown: true },
    },
    {
      name: 'a fallback capture without a known length',
      record: lineRecord('echo hi', { flags: BashLineFlag.FromReturn | BashLineFlag.LengthUnknown, command_line: -1 }),
      expect: { line: 'echo hi', lineLength: 7, fromReturn: true, lengthKnown: false, commandLine: undefined },
    },
    { name: 'a continuation line', record: lineRecord('done', { command_line: 2 }), expect: { line: 'done', commandLine: 2 } },
    { name: 'an unreadable line', record: lineRecord('', { flags: BashLineFlag.Unreadable }), expect: { line: '', unreadable: true } },
    { name: 'a bracketed paste with newlines', record: lineRecord('echo a\necho b'), expect: { line: 'echo a\necho b' } },
    { name: 'UTF-8', record: lineRecord('echo “ok” ✓'), expect: { line: 'echo “ok” ✓' } },
  ];
  for (const c of cases) {
    it(`decodes ${c.name}`, () => {
      const event = decodeBashReadline(c.record);
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(event[key as keyof BashReadlineEvent], value, key);
      }
    });
  }

  const bad: Array<{ name: string; record: Buffer; reason: DecodeError['reason'] }> = [
    { name: 'shorter than the header', record: lineRecord('').subarray(0, BASH_READLINE_HEADER_SIZE - 1), reason: 'truncated' },
    { name: 'whose line is cut off', record: lineRecord('echo hello').subarray(0, BASH_READLINE_HEADER_SIZE + 3), reason: 'truncated' },
    {
      name: 'with an impossible line size',
      record: buildRecord(BASH_READLINE_LAYOUT, { type: EventType.BashReadline, line_size: BASH_LINE_MAX }),
      reason: 'invalid',
    },
    { name: 'of another type', record: buildRecord(BASH_READLINE_LAYOUT, { type: EventType.BashPrompt }), reason: 'unknown_type' },
  ];
  for (const c of bad) {
    it(`rejects a record ${c.name}`, () => {
      assert.throws(() => decodeBashReadline(c.record), (err: unknown) => err instanceof DecodeError && err.reason === c.reason);
    });
  }
});

describe('decodeBashPrompt', () => {
  const cases: Array<[string, number, number | undefined]> = [
    ['a new command', 0, 0],
    ['a continuation', 1, 1],
    ['an unknown line count', -1, undefined],
  ];
  for (const [name, raw, commandLine] of cases) {
    it(`decodes ${name}`, () => {
      const record = buildRecord(BASH_PROMPT_LAYOUT, {
        type: EventType.BashPrompt,
        timestamp_ns: 55n,
        cgroup_id: 3n,
        pid: 7,
        tid: 8,
        uid: 9,
        gid: 10,
        command_line: raw,
        comm: 'bash',
      });
      assert.deepEqual(decodeBashPrompt(record), {
        kind: 'bash_prompt',
        timestampNs: 55n,
        cgroupId: 3n,
        pid: 7,
        tid: 8,
        uid: 9,
        gid: 10,
        comm: 'bash',
        commandLine,
      });
    });
  }
  it('rejects a short record', () => {
    const record = buildRecord(BASH_PROMPT_LAYOUT, { type: EventType.BashPrompt });
    assert.throws(() => decodeBashPrompt(record.subarray(0, 20)), (e: unknown) => e instanceof DecodeError && e.reason === 'truncated');
  });
});
