/**
 * Kernel CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) to wall-clock time.
 *
 * One offset, wall - monotonic, taken from a paired read of both clocks
 * (the addon reads CLOCK_REALTIME between two CLOCK_MONOTONIC reads and keeps
 * the tightest pair). CLOCK_MONOTONIC does not jump, but it is slewed by NTP
 * differently from what the wall clock does after a step, so the offset is
 * refreshed periodically; each event uses the offset current when it is
 * converted, so the error cannot grow past one refresh interval's drift.
 */
import type { HrTime } from '@opentelemetry/api';

export interface ClockPair {
  realtimeNs: bigint;
  monotonicNs: bigint;
}
export type ClockPairSource = () => ClockPair;

const NS_PER_SEC = 1_000_000_000n;

export class KernelClock {
  private offsetNs: bigint;
  private lastRefreshMonoNs: bigint;

  constructor(
    private readonly source: ClockPairSource,
    private readonly refreshIntervalNs: bigint = 10n * NS_PER_SEC,
  ) {
    const pair = source();
    this.offsetNs = pair.realtimeNs - pair.monotonicNs;
    this.lastRefreshMonoNs = pair.monotonicNs;
  }

  /** Re-reads both clocks; called lazily from toWall*() once the interval has passed. */
  refresh(): void {
    const pair = this.source();
    this.offsetNs = pair.realtimeNs - pair.monotonicNs;
    this.lastRefreshMonoNs = pair.monotonicNs;
  }

  /** Offset now in use (wall - monotonic), for diagnostics. */
  get offset(): bigint {
    return this.offsetNs;
  }

  toWallNs(monotonicNs: bigint): bigint {
    if (monotonicNs - this.lastRefreshMonoNs > this.refreshIntervalNs) this.refresh();
    return monotonicNs + this.offsetNs;
  }

  toHrTime(monotonicNs: bigint): HrTime {
    return nsToHrTime(this.toWallNs(monotonicNs));
  }
}

export function nsToHrTime(ns: bigint): HrTime {
  return [Number(ns / NS_PER_SEC), Number(ns % NS_PER_SEC)];
}

/** A pure-JS pair for when the addon is absent (tests): millisecond wall clock. */
export function jsClockPair(): ClockPair {
  const mono = process.hrtime.bigint();
  return { realtimeNs: BigInt(Date.now()) * 1_000_000n, monotonicNs: mono };
}
