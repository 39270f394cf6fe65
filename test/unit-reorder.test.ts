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
});
