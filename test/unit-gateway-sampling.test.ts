// The tail sampling processor's probabilistic policy, reproduced in test/helpers/gateway-tier.ts so
// the gateway-tier test can compute which traces must be kept. Reference values come from the
// processor's own functions (calculateThreshold, hashTraceID in
// processor/tailsamplingprocessor/internal/sampling/probabilistic.go v0.148.0) run with Go 1.26.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { fnv1a64, probabilisticKeeps, probabilisticThreshold } from './helpers/gateway-tier';

describe('tail_sampling probabilistic policy, reproduced', () => {
  it('FNV-1a 64 matches the published test vectors', () => {
    assert.equal(fnv1a64(Buffer.from('')), 0xcbf29ce484222325n);
    assert.equal(fnv1a64(Buffer.from('a')), 0xaf63dc4c8601ec8cn);
    assert.equal(fnv1a64(Buffer.from('foobar')), 0x85944171f73967e8n);
  });

  it('salted trace id hashes match the processor', () => {
    const cases: [string, string, bigint][] = [
      ['0123456789abcdef0123456789abcdef', 'ebpf-otel', 10190868393101891465n],
      ['4bf92f3577b34da6a3ce929d0e0e4736', 'ebpf-otel', 2776658483997631097n],
      ['ffffffffffffffffffffffffffffffff', 'ebpf-otel', 6872120296494439033n],
      ['0123456789abcdef0123456789abcdef', 'default-hash-seed', 9602316671945977917n],
      ['4bf92f3577b34da6a3ce929d0e0e4736', 'default-hash-seed', 11908981664384643253n],
    ];
    for (const [id, salt, want] of cases) {
      assert.equal(fnv1a64(new Uint8Array([...Buffer.from(salt), ...Buffer.from(id, 'hex')])), want, `${salt} ${id}`);
    }
  });

  it('thresholds match the processor (64-bit big.Float product, truncated)', () => {
    const cases: [number, bigint][] = [
      [0.1, 18446744073709551n],
      [1, 184467440737095519n],
      [10, 1844674407370955263n],
      [12.5, 2305843009213693951n],
      [33.3, 6142765776545279999n],
      [50, 9223372036854775807n],
      [99.9, 18428297329635844095n],
      [100, 18446744073709551615n],
    ];
    for (const [percent, want] of cases) assert.equal(probabilisticThreshold(percent), want, `${percent} %`);
    assert.equal(probabilisticThreshold(0), 0n);
  });

  it('keeps the configured share of random trace ids (100,000 ids, within 1 %)', () => {
    // A fixed-seed generator (xorshift64*), so the check is the same on every run.
    let state = 0x9e3779b97f4a7c15n;
    const next = (): bigint => {
      state ^= state >> 12n;
      state ^= (state << 25n) & ((1n << 64n) - 1n);
      state ^= state >> 27n;
      return (state * 0x2545f4914f6cdd1dn) & ((1n << 64n) - 1n);
    };
    const n = 100_000;
    for (const percent of [10, 50]) {
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const id = next().toString(16).padStart(16, '0') + next().toString(16).padStart(16, '0');
        if (probabilisticKeeps(id, percent, 'ebpf-otel')) kept++;
      }
      assert.ok(Math.abs(kept / n - percent / 100) < 0.01, `${percent} %: kept ${kept} of ${n}`);
    }
  });
});
