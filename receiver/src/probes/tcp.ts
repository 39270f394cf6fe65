/**
 * Loads and runs bpf/tcpconnect.bpf.c: settings in, events and histograms out.
 */
import { BPF_NOEXIST, type BpfMap } from '../../../addon/lib/index';
import { AF_INET, AF_INET6, TCP_OUTCOME_COUNT } from '../decode/tcp-connect';
import { TCP_HIST_KEY_LAYOUT, TCP_HIST_VALUE_LAYOUT, type HistogramMapSource } from '../tcp/metrics';
import { u16, u32, u64, u8 } from './common';
import { LoadedObjects, LoadedProbe, openAndAttach, type AttachedObject } from './loaded';

export interface TcpProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  filterTgid: number;
  excludeTgid: number;
  dport: number;
  includeLoopback: boolean;
  perPeerHistogram: boolean;
  /** Histogram keyed by the connecting task's cgroup v2 id too (per-container metrics). */
  perCgroupHistogram?: boolean;
  minLatencyNs: bigint;
  /**
   * Kernel-side budget for routine events (successes faster than
   * slowThresholdNs): at most this many per CPU and second are sent, the rest
   * counted (routineSkipped). undefined: send them all.
   */
  routinePerSecond?: number | undefined;
  slowThresholdNs?: bigint | undefined;
}

export interface TcpKernelStats {
  ringbufDrops: bigint;
  inflightFull: bigint;
  histFull: bigint;
  events: bigint;
  /** Connects not counted in the histogram at all (0 once the overflow keys are in). */
  histLost: bigint;
  /** Routine events over the kernel-side budget: counted in the histogram, not sent. */
  routineSkipped: bigint;
  /** Connects tracked on their socket because the in-flight hash was full (slower, nothing lost). */
  inflightSpilled: bigint;
}

/**
 * Inserts the histogram's overflow keys (dport 0, no peer), one per family
 * and outcome, before anything is counted: when the key table fills up the
 * kernel folds new keys into these, so every connect is still counted.
 */
export function insertOverflowKeys(map: BpfMap): void {
  const K = TCP_HIST_KEY_LAYOUT.fields;
  const zero = Buffer.alloc(TCP_HIST_VALUE_LAYOUT.size);
  for (const family of [AF_INET, AF_INET6]) {
    for (let outcome = 0; outcome < TCP_OUTCOME_COUNT; outcome++) {
      const key = Buffer.alloc(TCP_HIST_KEY_LAYOUT.size);
      key.writeUInt16LE(family, K.family.offset);
      key.writeUInt32LE(outcome, K.outcome.offset);
      map.update(key, zero, BPF_NOEXIST);
    }
  }
}

/** Indices of the `stats` counters (enum tcp_stat in bpf/tcpconnect.h; checked against BTF by test/layout.test.ts). */
export const TcpStat = { RingbufDrops: 0, InflightFull: 1, HistFull: 2, Events: 3, HistLost: 4, RoutineSkipped: 5, InflightSpilled: 6 } as const;
export const TCP_STAT_COUNT = 7;

export class TcpProbe extends LoadedProbe {
  private lastHistogram: Array<[Buffer, Buffer]> = [];

  private constructor(loaded: LoadedObjects) {
    super(loaded);
  }

  static load(bpfDir: string, settings: TcpProbeSettings): TcpProbe {
    const part = openAndAttach(bpfDir, 'tcpconnect', settings.btfPath, (object) => {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.setGlobal('filter_dport', u16(settings.dport));
      object.setGlobal('include_loopback', u8(settings.includeLoopback));
      object.setGlobal('per_peer_histogram', u8(settings.perPeerHistogram));
      object.setGlobal('per_cgroup_histogram', u8(settings.perCgroupHistogram ?? false));
      object.setGlobal('min_latency_ns', u64(settings.minLatencyNs));
      if (settings.routinePerSecond !== undefined) {
        object.setGlobal('routine_limit', u8(true));
        object.setGlobal('routine_per_second', u32(Math.min(settings.routinePerSecond, 0xffffffff)));
        object.setGlobal('slow_threshold_ns', u64(settings.slowThresholdNs ?? 0n));
      }
      object.load();
      insertOverflowKeys(object.map('tcp_hist'));
      // tp_btf: attached by its SEC() name through BTF, no tracefs needed.
      return [object.attach('inet_sock_set_state')];
    });
    return new TcpProbe(new LoadedObjects([part], TCP_STAT_COUNT));
  }

  /**
   * The histogram map's entries. After close() it answers with the last
   * snapshot, so an exporter's final collection still has the final counts.
   */
  histogramSource(): HistogramMapSource {
    const map = (this.loaded.parts[0] as AttachedObject).object.map('tcp_hist');
    return {
      entries: () => {
        if (!this.loaded.closed) this.lastHistogram = map.entries();
        return this.lastHistogram;
      },
    };
  }

  /** The histogram map itself (tests fill it up to check the overflow keys). */
  histogramMap(): BpfMap {
    return (this.loaded.parts[0] as AttachedObject).object.map('tcp_hist');
  }

  /** The kernel's own counters (the last values read once closed). */
  stats(): TcpKernelStats {
    const s = this.loaded.stats();
    return {
      ringbufDrops: s[TcpStat.RingbufDrops] ?? 0n,
      inflightFull: s[TcpStat.InflightFull] ?? 0n,
      histFull: s[TcpStat.HistFull] ?? 0n,
      events: s[TcpStat.Events] ?? 0n,
      histLost: s[TcpStat.HistLost] ?? 0n,
      routineSkipped: s[TcpStat.RoutineSkipped] ?? 0n,
      inflightSpilled: s[TcpStat.InflightSpilled] ?? 0n,
    };
  }

  /** Keeps the last histogram snapshot for the final collection. */
  override close(): void {
    if (this.loaded.closed) return;
    try {
      this.histogramSource().entries();
    } catch {
      // keep the previous snapshot
    }
    super.close();
  }
}
