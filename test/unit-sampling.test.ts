import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanGate } from '../receiver/src/sampling';

describe('SpanGate', () => {
  it('keeps failures and slow connects, samples fast successes by ratio', () => {
    let r = 0.9;
    const gate = new SpanGate({ successRatio: 0.5, slowThresholdNs: 1_000_000n, maxPerSecond: 0 }, () => 0, () => r);
    assert.equal(gate.decide(true, 10n), 'keep');
    assert.equal(gate.decide(false, 2_000_000n), 'keep');
    assert.equal(gate.decide(false, 10n), 'ratio');
    r = 0.1;
    assert.equal(gate.decide(false, 10n), 'keep');
  });

  it('caps spans per second with a token bucket', () => {
    let now = 0;
    const gate = new SpanGate({ successRatio: 1, slowThresholdNs: 0n, maxPerSecond: 10 }, () => now);
    const first = Array.from({ length: 20 }, () => gate.decide(true, 1n));
    assert.equal(first.filter((d) => d === 'keep').length, 10);
    assert.equal(first.filter((d) => d === 'rate_limit').length, 10);
    now += 500;
    const second = Array.from({ length: 20 }, () => gate.decide(true, 1n));
    assert.equal(second.filter((d) => d === 'keep').length, 5);
  });

  it('a storm of fast successes does not starve failures', () => {
    const gate = new SpanGate({ successRatio: 1, slowThresholdNs: 1_000_000n, maxPerSecond: 10 }, () => 0);
    const storm = Array.from({ length: 100 }, () => gate.decide(false, 1n));
    assert.equal(storm.filter((d) => d === 'keep').length, 10);
    assert.equal(gate.decide(true, 1n), 'keep');
    assert.equal(gate.decide(false, 5_000_000n), 'keep', 'slow connects count as important');
  });
});
