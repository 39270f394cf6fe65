/**
 * Loads and runs bpf/tcpconnect.bpf.c: settings in, events and histograms out.
 */
import type { HistogramMapSource } from '../tcp/metrics';
import { u16, u32, u64, u8 } from './common';
import { LoadedObjects, openAndAttach, type AttachedObject } from './loaded';

export interface TcpProbeSettings {
  /** Kernel BTF for CO-RE when not /sys/kernel/btf/vmlinux. */
  btfPath?: string | undefined;
  filterTgid: number;
  excludeTgid: number;
  dport: number;
  includeLoopback: boolean;
  perPeerHistogram: boolean;
  minLatencyNs: bigint;
}

export interface TcpKernelStats {
  ringbufDrops: bigint;
  inflightFull: bigint;
  histFull: bigint;
  events: bigint;
}

/** Indices of the `stats` counters (enum tcp_stat in bpf/tcpconnect.h; checked against BTF by test/layout.test.ts). */
export const TcpStat = { RingbufDrops: 0, InflightFull: 1, HistFull: 2, Events: 3 } as const;
export const TCP_STAT_COUNT = 4;

export class TcpProbe {
  private lastHistogram: Array<[Buffer, Buffer]> = [];

  private constructor(private readonly loaded: LoadedObjects) {}

  static load(bpfDir: string, settings: TcpProbeSettings): TcpProbe {
    const part = openAndAttach(bpfDir, 'tcpconnect', settings.btfPath, (object) => {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.setGlobal('filter_dport', u16(settings.dport));
      object.setGlobal('include_loopback', u8(settings.includeLoopback));
      object.setGlobal('per_peer_histogram', u8(settings.perPeerHistogram));
      object.setGlobal('min_latency_ns', u64(settings.minLatencyNs));
      object.load();
      return [object.attachTracepoint('inet_sock_set_state', 'sock', 'inet_sock_set_state')];
    });
    return new TcpProbe(new LoadedObjects([part], TCP_STAT_COUNT));
  }

  /** Starts delivering raw event records; `onFramingError` is called when a batch cannot be split. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    this.loaded.start(onRecord, onFramingError);
  }

  /** Drains what is in the ring buffer now (at shutdown). */
  drain(): void {
    this.loaded.drain();
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

  /** The kernel's own counters (the last values read once closed). */
  stats(): TcpKernelStats {
    const s = this.loaded.stats();
    return {
      ringbufDrops: s[TcpStat.RingbufDrops] ?? 0n,
      inflightFull: s[TcpStat.InflightFull] ?? 0n,
      histFull: s[TcpStat.HistFull] ?? 0n,
      events: s[TcpStat.Events] ?? 0n,
    };
  }

  close(): void {
    if (this.loaded.closed) return;
    try {
      this.histogramSource().entries();
    } catch {
      // keep the previous snapshot
    }
    this.loaded.close();
  }
}
