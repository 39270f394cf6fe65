/**
 * TCP connect metrics straight from the kernel's aggregation (map tcp_hist,
 * bpf/tcpconnect.h), handed to the metrics SDK as a MetricProducer: the
 * counts are exact even when ring buffer events are lost or spans sampled.
 *
 * The kernel keeps a log-linear histogram (4 slots per power of two of
 * nanoseconds); we export an explicit-bucket histogram in seconds whose
 * boundaries are a subset of the kernel's slot bounds, so re-bucketing is
 * exact. A kernel slot is [lower, next lower) in ns, so a value exactly equal
 * to a boundary lands in the bucket above it (1 ns of difference from OTel's
 * upper-inclusive buckets).
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';
import type { EventLayout } from '../decode/layout';
import { AF_INET, formatAddress, TCP_OUTCOME_COUNT, TCP_OUTCOME_NAMES } from '../decode/tcp-connect';
import {
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_TRANSPORT,
  ATTR_NETWORK_TYPE,
  ATTR_SERVER_PORT,
  ATTR_TCP_OUTCOME,
  ERROR_TYPE_BY_OUTCOME,
  METRIC_TCP_CONNECT_ATTEMPTS,
  METRIC_TCP_CONNECT_DURATION,
} from '../semconv';

export const TCP_HIST_SUB_BITS = 2;
export const TCP_HIST_SUB_BUCKETS = 1 << TCP_HIST_SUB_BITS;
export const TCP_HIST_SLOTS = 40 * TCP_HIST_SUB_BUCKETS;

export const TCP_HIST_KEY_LAYOUT: EventLayout<'family' | 'dport' | 'outcome' | 'daddr'> = {
  struct: 'tcp_hist_key',
  object: 'tcpconnect',
  size: 24,
  fields: {
    family: { offset: 0, size: 2 },
    dport: { offset: 2, size: 2 },
    outcome: { offset: 4, size: 4 },
    daddr: { offset: 8, size: 16 },
  },
};

export const TCP_HIST_VALUE_LAYOUT: EventLayout<'count' | 'sum_ns' | 'slots'> = {
  struct: 'tcp_hist_value',
  object: 'tcpconnect',
  size: 16 + TCP_HIST_SLOTS * 8,
  fields: {
    count: { offset: 0, size: 8 },
    sum_ns: { offset: 8, size: 8 },
    slots: { offset: 16, size: TCP_HIST_SLOTS * 8 },
  },
};

/** Lower bound in ns of kernel slot `slot`; undefined for slots the kernel never uses. */
export function slotLowerBoundNs(slot: number): number | undefined {
  if (slot < TCP_HIST_SUB_BUCKETS) return slot;
  const msb = slot >> TCP_HIST_SUB_BITS;
  if (msb < TCP_HIST_SUB_BITS) return undefined;
  const sub = slot & (TCP_HIST_SUB_BUCKETS - 1);
  return 2 ** msb + sub * 2 ** (msb - TCP_HIST_SUB_BITS);
}

/** The kernel's slot for a latency, mirroring hist_slot() in bpf/tcpconnect.bpf.c (for tests). */
export function slotOfNs(ns: bigint): number {
  if (ns < BigInt(TCP_HIST_SUB_BUCKETS)) return Number(ns);
  const msb = ns.toString(2).length - 1;
  const slot = msb * TCP_HIST_SUB_BUCKETS + Number((ns >> BigInt(msb - TCP_HIST_SUB_BITS)) & BigInt(TCP_HIST_SUB_BUCKETS - 1));
  return Math.min(slot, TCP_HIST_SLOTS - 1);
}

export interface BucketLayout {
  /** Explicit bucket boundaries in seconds. */
  boundaries: number[];
  /** Output bucket index for each kernel slot. */
  slotToBucket: Int32Array;
}

/**
 * Boundaries from 2^minOctave ns to 2^maxOctave ns with `perOctave` (1, 2 or 4)
 * boundaries per power of two. Defaults: ~1 µs to ~137 s.
 */
export function bucketLayout(perOctave: 1 | 2 | 4 = 2, minOctave = 10, maxOctave = 37): BucketLayout {
  const boundariesNs: number[] = [];
  const step = TCP_HIST_SUB_BUCKETS / perOctave;
  for (let msb = minOctave; msb <= maxOctave; msb++) {
    for (let sub = 0; sub < TCP_HIST_SUB_BUCKETS; sub += step) {
      boundariesNs.push(2 ** msb + sub * 2 ** (msb - TCP_HIST_SUB_BITS));
    }
  }
  const slotToBucket = new Int32Array(TCP_HIST_SLOTS);
  for (let slot = 0; slot < TCP_HIST_SLOTS; slot++) {
    const lower = slotLowerBoundNs(slot);
    if (lower === undefined) { slotToBucket[slot] = -1; continue; }
    // Bucket i holds values in [b[i-1], b[i]): the number of boundaries <= lower.
    let lo = 0;
    let hi = boundariesNs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((boundariesNs[mid] as number) <= lower) lo = mid + 1; else hi = mid;
    }
    slotToBucket[slot] = lo;
  }
  return { boundaries: boundariesNs.map((ns) => ns / 1e9), slotToBucket };
}

export interface TcpHistEntry {
  family: number;
  dport: number;
  outcome: number;
  /** Peer address text when per-peer histograms are on, else undefined. */
  peer: string | undefined;
  count: bigint;
  sumNs: bigint;
  slots: BigUint64Array;
}

export function decodeHistEntry(key: Buffer, value: Buffer): TcpHistEntry {
  const K = TCP_HIST_KEY_LAYOUT.fields;
  const V = TCP_HIST_VALUE_LAYOUT.fields;
  if (key.length < TCP_HIST_KEY_LAYOUT.size || value.length < TCP_HIST_VALUE_LAYOUT.size) {
    throw new Error(`tcp_hist entry of ${key.length}/${value.length} bytes, expected ${TCP_HIST_KEY_LAYOUT.size}/${TCP_HIST_VALUE_LAYOUT.size}`);
  }
  const family = key.readUInt16LE(K.family.offset);
  const daddr = key.subarray(K.daddr.offset, K.daddr.offset + 16);
  const slots = new BigUint64Array(TCP_HIST_SLOTS);
  for (let i = 0; i < TCP_HIST_SLOTS; i++) slots[i] = value.readBigUInt64LE(V.slots.offset + i * 8);
  return {
    family,
    dport: key.readUInt16LE(K.dport.offset),
    outcome: key.readUInt32LE(K.outcome.offset),
    peer: daddr.some((b) => b !== 0) ? formatAddress(family, daddr) : undefined,
    count: value.readBigUInt64LE(V.count.offset),
    sumNs: value.readBigUInt64LE(V.sum_ns.offset),
    slots,
  };
}

export function histAttributes(entry: TcpHistEntry): Attributes {
  const outcome = TCP_OUTCOME_NAMES[entry.outcome] ?? 'other_error';
  const attributes: Attributes = {
    [ATTR_NETWORK_TRANSPORT]: 'tcp',
    [ATTR_NETWORK_TYPE]: entry.family === AF_INET ? 'ipv4' : 'ipv6',
    [ATTR_TCP_OUTCOME]: outcome,
  };
  // Port 0 is the kernel's overflow key (too many distinct ports): no server.port.
  if (entry.dport !== 0) attributes[ATTR_SERVER_PORT] = entry.dport;
  if (entry.peer !== undefined) attributes[ATTR_NETWORK_PEER_ADDRESS] = entry.peer;
  if (outcome !== 'established') attributes[ATTR_ERROR_TYPE] = ERROR_TYPE_BY_OUTCOME[outcome] ?? '_OTHER';
  return attributes;
}

export interface HistogramMapSource {
  entries(): Array<[Buffer, Buffer]>;
}

export class TcpConnectMetricProducer implements MetricProducer {
  private readonly layout: BucketLayout;
  private readonly startTime: HrTime;

  constructor(
    private readonly source: HistogramMapSource,
    perOctave: 1 | 2 | 4 = 2,
    startTime: HrTime = hrTime(),
  ) {
    this.layout = bucketLayout(perOctave);
    this.startTime = startTime;
  }

  async collect(): Promise<CollectionResult> {
    const errors: unknown[] = [];
    const endTime = hrTime();
    const histogramPoints: DataPoint<Histogram>[] = [];
    const attemptPoints: DataPoint<number>[] = [];
    let entries: Array<[Buffer, Buffer]> = [];
    try {
      entries = this.source.entries();
    } catch (err) {
      errors.push(err);
    }
    for (const [key, value] of entries) {
      let entry: TcpHistEntry;
      try {
        entry = decodeHistEntry(key, value);
      } catch (err) {
        errors.push(err);
        continue;
      }
      if (entry.outcome >= TCP_OUTCOME_COUNT || entry.count === 0n) continue;
      const attributes = histAttributes(entry);
      const counts = new Array<number>(this.layout.boundaries.length + 1).fill(0);
      for (let slot = 0; slot < TCP_HIST_SLOTS; slot++) {
        const n = entry.slots[slot] as bigint;
        if (n === 0n) continue;
        const bucket = this.layout.slotToBucket[slot] as number;
        if (bucket < 0) continue;
        counts[bucket] = (counts[bucket] as number) + Number(n);
      }
      histogramPoints.push({
        startTime: this.startTime,
        endTime,
        attributes,
        value: {
          buckets: { boundaries: this.layout.boundaries, counts },
          count: Number(entry.count),
          sum: Number(entry.sumNs) / 1e9,
          // No min/max: OTLP's are observed extremes, and the kernel keeps only slot counts.
        },
      });
      attemptPoints.push({ startTime: this.startTime, endTime, attributes, value: Number(entry.count) });
    }
    const metrics: MetricData[] = [
      {
        descriptor: {
          name: METRIC_TCP_CONNECT_DURATION,
          description: 'Duration of TCP connect attempts, from SYN sent to established or failed, measured in the kernel.',
          unit: 's',
          valueType: ValueType.DOUBLE,
        },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: histogramPoints,
      },
      {
        descriptor: {
          name: METRIC_TCP_CONNECT_ATTEMPTS,
          description: 'TCP connect attempts by outcome, counted in the kernel.',
          unit: '{connection}',
          valueType: ValueType.INT,
        },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        dataPoints: attemptPoints,
        isMonotonic: true,
      },
    ];
    return {
      resourceMetrics: {
        resource: emptyResource(),
        scopeMetrics: [{ scope: { name: 'ebpf-otel/tcp' }, metrics }],
      },
      errors,
    };
  }
}
