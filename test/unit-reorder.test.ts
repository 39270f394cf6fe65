/**
 * ReorderBuffer (receiver/src/reorder.ts): events from several ring buffers
 * back in kernel time order. Its release tick runs on node:test's mocked
 * timers and its clock is a plain variable, so no test waits for real time.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { ReorderBuffer } from '../receiver/src/reorder';

const MS = 1_000_000n;

describe('ReorderBuffer', () => {
  let now = 0n;
  const errors: unknown[] = [];
  beforeEach(() => {
    mock.timers.enable({ apis: ['setInterval'] });
    now = 1000n * MS;
    errors.length = 0;
  });
  afterEach(() => mock.timers.reset());

  const make = (windowNs = 250n * MS): ReorderBuffer => new ReorderBuffer(windowNs, (err) => errors.push(err), () => now, 25);

  it('holds events for the window, then runs them in timestamp order', () => {
    const buffer = make();
    const ran: string[] = [];
    buffer.push(now - 10n * MS, () => ran.push('exec'));
    buffer.push(now - 20n * MS, () => ran.push('fork'));
    buffer.push(now - 10n * MS, () => ran.push('exec-2'));
    mock.timers.tick(25);
    assert.deepEqual(ran, [], 'still inside the window');
    now += 300n * MS;
    mock.timers.tick(25);
    assert.deepEqual(ran, ['fork', 'exec', 'exec-2'], 'oldest first, ties in arrival order');
    buffer.close();
  });

  it('an event older than what was released runs at once and is counted late', () => {
    const buffer = make();
    const ran: string[] = [];
    buffer.push(now, () => ran.push('a'));
    now += 300n * MS;
    mock.timers.tick(25);
    buffer.push(now - 400n * MS, () => ran.push('late'));
    assert.deepEqual(ran, ['a', 'late']);
    assert.equal(buffer.late, 1);
    buffer.close();
  });

  it('close() runs what is pending and stops the tick; a throwing handler is reported, not fatal', () => {
    const buffer = make();
    const ran: string[] = [];
    buffer.push(now, () => { throw new Error('boom'); });
    buffer.push(now + 1n, () => ran.push('after'));
    buffer.close();
    assert.deepEqual(ran, ['after']);
    assert.equal(errors.length, 1);
    now += 10_000n * MS;
    buffer.push(now, () => ran.push('late after close'));
    mock.timers.tick(1000);
    assert.deepEqual(ran, ['after', 'late after close'], 'after close everything is late: it runs at once');
  });

  /** A record like the kernel's: `u64 time` at offset 8, then a label. */
  const record = (timeNs: bigint, label: string): Buffer => {
    const buf = Buffer.alloc(16 + label.length);
    buf.writeBigUInt64LE(timeNs, 8);
    buf.write(label, 16, 'latin1');
    return buf;
  };
  const labelOf = (buf: Buffer): string => buf.toString('latin1', 16);

  it('records wait as copies and are released in time order with closures, ties in arrival order', () => {
    const buffer = make();
    const ran: string[] = [];
    const handle = (buf: Buffer): void => { ran.push(labelOf(buf)); };
    const exec = record(now - 10n * MS, 'exec');
    buffer.pushRecord(exec, 8, handle);
    exec.write('XXXX', 16, 'latin1'); // the ring buffer's batch is reused: the queued copy must not change
    buffer.push(now - 20n * MS, () => ran.push('fork (closure)'));
    buffer.pushRecord(record(now - 10n * MS, 'exec-2'), 8, handle);
    buffer.pushRecord(record(now - 30n * MS, 'oldest'), 8, handle);
    assert.equal(buffer.pending, 4);
    now += 300n * MS;
    mock.timers.tick(25);
    assert.deepEqual(ran, ['oldest', 'fork (closure)', 'exec', 'exec-2']);
    assert.equal(buffer.pending, 0);
    buffer.close();
  });

  it('times above 2^32 ns compare on both halves', () => {
    const buffer = make();
    const ran: string[] = [];
    const handle = (buf: Buffer): void => { ran.push(labelOf(buf)); };
    const base = 5n << 32n;
    now = base + 1000n * MS;
    buffer.pushRecord(record(base + 0xffff_fff0n, 'low half large'), 8, handle);
    buffer.pushRecord(record(base + (1n << 32n) + 5n, 'next high half'), 8, handle);
    buffer.pushRecord(record(base + 7n, 'first'), 8, handle);
    buffer.close();
    assert.deepEqual(ran, ['first', 'low half large', 'next high half']);
  });

  it('a late record is handled at once; a throwing handler is reported and the rest still run', () => {
    const buffer = make();
    const ran: string[] = [];
    buffer.pushRecord(record(now, 'a'), 8, (buf) => ran.push(labelOf(buf)));
    buffer.pushRecord(record(now, 'boom'), 8, () => { throw new Error('boom'); });
    buffer.pushRecord(record(now + 1n, 'b'), 8, (buf) => ran.push(labelOf(buf)));
    now += 300n * MS;
    mock.timers.tick(25);
    buffer.pushRecord(record(now - 400n * MS, 'late'), 8, (buf) => ran.push(labelOf(buf)));
    assert.deepEqual(ran, ['a', 'b', 'late']);
    assert.equal(errors.length, 1);
    assert.equal(buffer.late, 1);
    buffer.close();
  });

  it('keeps every record intact across many chunks, reused and not, and records larger than a chunk', () => {
    const buffer = make();
    const seen: string[] = [];
    const handle = (buf: Buffer): void => { seen.push(labelOf(buf)); };
    const expected: string[] = [];
    for (let round = 0; round < 3; round++) {
      // ~200 KiB per round: several 64 KiB chunks, released and reused by the next round.
      for (let i = 0; i < 2000; i++) {
        const label = `r${round}-${String(i).padStart(4, '0')}-${'x'.repeat(80)}`;
        buffer.pushRecord(record(now - BigInt(2000 - i), label), 8, handle);
        expected.push(label);
      }
      const big = `r${round}-big-${'y'.repeat(70_000)}`;
      buffer.pushRecord(record(now, big), 8, handle);
      expected.push(big);
      now += 300n * MS;
      mock.timers.tick(25);
    }
    assert.equal(seen.length, expected.length);
    assert.deepEqual(seen, expected);
    buffer.close();
  });
});
