/**
 * Loads and runs bpf/tcpconnect.bpf.c: settings in, events and histograms out.
 */
import path from 'node:path';
import { BpfObject, type BpfLink, type RingBufferReader } from '../../../addon/lib/index';
import type { HistogramMapSource } from '../tcp/metrics';
import { forEachRecord, readPerCpuCounters, u16, u32, u64, u8 } from './common';

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

export class TcpProbe {
  private link: BpfLink | undefined;
  private reader: RingBufferReader | undefined;
  private closed = false;
  private lastHistogram: Array<[Buffer, Buffer]> = [];
  private lastStats: TcpKernelStats = { ringbufDrops: 0n, inflightFull: 0n, histFull: 0n, events: 0n };

  private constructor(private readonly object: BpfObject) {}

  static load(bpfDir: string, settings: TcpProbeSettings): TcpProbe {
    const object = BpfObject.open(path.join(bpfDir, 'tcpconnect.bpf.o'), settings.btfPath ? { btfCustomPath: settings.btfPath } : {});
    try {
      object.setGlobal('filter_tgid', u32(settings.filterTgid));
      object.setGlobal('exclude_tgid', u32(settings.excludeTgid));
      object.setGlobal('filter_dport', u16(settings.dport));
      object.setGlobal('include_loopback', u8(settings.includeLoopback));
      object.setGlobal('per_peer_histogram', u8(settings.perPeerHistogram));
      object.setGlobal('min_latency_ns', u64(settings.minLatencyNs));
      object.load();
      const probe = new TcpProbe(object);
      probe.link = object.attachTracepoint('inet_sock_set_state', 'sock', 'inet_sock_set_state');
      return probe;
    } catch (err) {
      object.close();
      throw err;
    }
  }

  /** Starts delivering raw event records; `onFramingError` is called when a batch cannot be split. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    this.reader = this.object.openRingBuffer('events', (batch, count) => {
      if (!forEachRecord(batch, count, onRecord)) onFramingError();
    });
  }

  /** Drains what is in the ring buffer now (at shutdown). */
  drain(): void {
    this.reader?.consume();
  }

  /**
   * The histogram map's entries. After close() it answers with the last
   * snapshot, so an exporter's final collection still has the final counts.
   */
  histogramSource(): HistogramMapSource {
    const map = this.object.map('tcp_hist');
    return {
      entries: () => {
        if (!this.closed) this.lastHistogram = map.entries();
        return this.lastHistogram;
      },
    };
  }

  /** The kernel's own counters (the last values read once closed). */
  stats(): TcpKernelStats {
    if (this.closed) return this.lastStats;
    const [ringbufDrops = 0n, inflightFull = 0n, histFull = 0n, events = 0n] = readPerCpuCounters(this.object.map('stats'), 4);
    this.lastStats = { ringbufDrops, inflightFull, histFull, events };
    return this.lastStats;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.lastHistogram = this.object.map('tcp_hist').entries();
      this.stats();
    } catch {
      // keep the previous snapshot
    }
    this.closed = true;
    this.reader?.close();
    this.link?.destroy();
    this.object.close();
  }
}
