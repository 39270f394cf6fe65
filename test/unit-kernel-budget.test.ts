/** The kernel's routine-event budget derived from the span cap and the success ratio (agent.ts). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { kernelRoutineBudget } from '../receiver/src/agent';

it('never sends fewer routine events than the user-space sampler could keep', () => {
  assert.deepEqual(kernelRoutineBudget(1000, 1), { routinePerSecond: 1000 });
  assert.deepEqual(kernelRoutineBudget(1000, 0.1), { routinePerSecond: 10_000 });
  assert.deepEqual(kernelRoutineBudget(1000, 0.3), { routinePerSecond: 3334 });
  assert.deepEqual(kernelRoutineBudget(0, 1), {}, 'uncapped: everything is sent');
  assert.deepEqual(kernelRoutineBudget(0, 0.5), {}, 'uncapped with a ratio: user space samples');
  assert.deepEqual(kernelRoutineBudget(1000, 0), { routinePerSecond: 0 }, 'no success is ever kept: none is sent');
});
