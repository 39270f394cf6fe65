import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataPointType, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import {
  bucketLayout,
  slotLowerBoundNs,
  slotOfNs,
  TCP_HIST_KEY_LAYOUT,
  TCP_HIST_SLOTS,
  TCP_HIST_VALUE_LAYOUT,
  TcpConnectMetricProducer,
} from '../receiver/src/tcp/metrics';

function histEntry(family: number, dport: number, outcome: number, latenciesNs: bigint[]): [Buffer, Buffer] {
  const key = Buffer.alloc(TCP_HIST_KEY_LAYOUT.size);
  key.writeUInt16LE(family, 0);
  key.writeUInt16LE(dport, 2);
  key.writeUInt32LE(outcome, 4);
  const value = Buffer.alloc(TCP_HIST_VALUE_LAYOUT.size);
  let sum = 0n;
  const slots = new Array<bigint>(TCP_HIST_SLOTS).fill(0n);
  for (const ns of latenciesNs) {
    sum += ns;
    const s = slotOfNs(ns);
    slots[s] = (slots[s] as bigint) + 1n;
  }
  value.writeBigUInt64LE(BigInt(latenciesNs.length), 0);
  value.writeBigUInt64LE(sum, 8);
  slots.forEach((n, i) => value.writeBigUInt64LE(n, 16 + i * 8));
  return [key, value];
}

describe('kernel histogram slots', () => {
  it('each value lies within its slot bounds', () => {
    for (const ns of [0n, 1n, 3n, 4n, 5n, 7n, 8n, 1000n, 1023n, 1024n, 1279n, 1280n, 999_999n, 1_000_000_000n, 2n ** 39n]) {
      const slot = slotOfNs(ns);
      const lower = slotLowerBoundNs(slot);
      assert.ok(lower !== undefined && BigInt(lower) <= ns, `${ns} >= lower(${slot})`);
      let next = slot + 1;
      while (next < TCP_HIST_SLOTS && slotLowerBoundNs(next) === undefined) next++;
      if (next < TCP_HIST_SLOTS) assert.ok(ns < BigInt(slotLowerBoundNs(next) as number), `${ns} < lower(${next})`);
    }
  });

  it('buckets are a coarsening of slots', () => {
    for (const perOctave of [1, 2, 4] as const) {
      const layout = bucketLayout(perOctave);
      assert.equal(layout.boundaries.length, 28 * perOctave);
      for (let i = 1; i < layout.boundaries.length; i++) assert.ok((layout.boundaries[i] as number) > (layout.boundaries[i - 1] as number));
      // slot -> bucket is monotonic
      let last = 0;
      for (let s = 0; s < TCP_HIST_SLOTS; s++) {
        const b = layout.slotToBucket[s] as number;
        if (b < 0) continue;
        assert.ok(b >= last);
        last = b;
      }
    }
  });
});

describe('TcpConnectMetricProducer', () => {
  it('turns the kernel map into an exact histogram and counter', async () => {
    const lat = [50_000n, 60_000n, 1_000_000n, 1_000_000_000n];
    const source = { entries: () => [histEntry(2, 8080, 0, lat), histEntry(10, 443, 1, [20_000n])] };
    const producer = new TcpConnectMetricProducer(source, 2);
    const { resourceMetrics, errors } = await producer.collect();
    assert.deepEqual(errors, []);
    const metrics = resourceMetrics.scopeMetrics[0]!.metrics;
    const hist = metrics.find((m) => m.descriptor.name === 'ebpf_otel.tcp.connect.duration') as HistogramMetricData;
    assert.equal(hist.dataPointType, DataPointType.HISTOGRAM);
    assert.equal(hist.descriptor.unit, 's');
    const ok = hist.dataPoints.find((p) => p.attributes['server.port'] === 8080)!;
    assert.equal(ok.value.count, 4);
    assert.ok(Math.abs((ok.value.sum ?? 0) - 1.00111) < 1e-9);
    assert.equal(ok.value.buckets.counts.reduce((a, b) => a + b, 0), 4);
    // The kernel keeps slot counts, not the extremes: OTLP min/max (observed values) stay unset.
    assert.equal(ok.value.min, undefined);
    assert.equal(ok.value.max, undefined);
    assert.equal(ok.attributes['network.type'], 'ipv4');
    assert.equal(ok.attributes['ebpf_otel.tcp.outcome'], 'established');
    assert.equal(ok.attributes['error.type'], undefined);
    // 1 s lands in the bucket whose bounds contain it
    const b = ok.value.buckets;
    const idx = b.boundaries.findIndex((x) => x > 1.0);
    assert.equal(b.counts[idx], 1);
    const refused = hist.dataPoints.find((p) => p.attributes['server.port'] === 443)!;
    assert.equal(refused.attributes['error.type'], 'connection_refused');
    assert.equal(refused.attributes['network.type'], 'ipv6');
    const attempts = metrics.find((m) => m.descriptor.name === 'ebpf_otel.tcp.connect.attempts') as SumMetricData;
    assert.equal(attempts.isMonotonic, true);
    assert.deepEqual(attempts.dataPoints.map((p) => p.value).sort(), [1, 4]);
  });

  it('reports a map read failure as a collection error, not a crash', async () => {
    const producer = new TcpConnectMetricProducer({ entries: () => { throw new Error('map gone'); } });
    const { errors } = await producer.collect();
    assert.equal(errors.length, 1);
  });
});
