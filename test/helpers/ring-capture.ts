/**
 * Keeps every decoded ring buffer record of a probe (or of a bare BPF
 * object's `events` map), for kernel tests that cause real activity and then
 * wait for the events it produced.
 */
import path from 'node:path';
import { splitBatch, type BpfObject } from '../../addon/lib/index';
import { DecodeError } from '../../receiver/src/decode/layout';
import { readPerCpuCounters } from '../../receiver/src/probes/common';

/** What the probes in receiver/src/probes offer. */
export interface RecordSource {
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void;
  drain(): void;
  close(): void;
  /** The kernel's own count of records submitted (the `*_STAT_EVENTS` counter). */
  stats(): { events: bigint };
}

/** A loaded object's `events` ring buffer as a RecordSource; `eventsStat` is its `*_STAT_EVENTS` index. */
export function objectSource(object: BpfObject, eventsStat: number): RecordSource {
  let reader: ReturnType<BpfObject['openRingBuffer']> | undefined;
  return {
    stats: () => ({ events: readPerCpuCounters(object.map('stats'), eventsStat + 1)[eventsStat] ?? 0n }),
    start(onRecord) {
      reader = object.openRingBuffer('events', (batch) => {
        for (const record of splitBatch(batch)) onRecord(record);
      });
    },
    drain: () => reader?.consume(),
    close() {
      reader?.close();
      object.close();
    },
  };
}

export const BPF_DIR = path.resolve(__dirname, '../../../build/bpf');

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class RingCapture<E, S extends RecordSource = RecordSource> {
  readonly events: E[] = [];
  /** Raw records, to check what never reaches user space (e.g. environment bytes). */
  readonly raw: Buffer[] = [];
  decodeErrors: DecodeError[] = [];
  framingErrors = 0;

  /** Records delivered, decodable or not. */
  received = 0;

  constructor(
    readonly source: S,
    decode: (record: Buffer) => E | undefined,
  ) {
    source.start(
      (record) => {
        this.received++;
        this.raw.push(Buffer.from(record));
        try {
          const event = decode(record);
          if (event !== undefined) this.events.push(event);
        } catch (err) {
          if (err instanceof DecodeError) this.decodeErrors.push(err);
          else throw err;
        }
      },
      () => this.framingErrors++,
    );
  }

  /** Waits until `match` holds `n` events, then settles (so unwanted extras would be here too). */
  async waitFor<T extends E>(match: (e: E) => e is T, n?: number, timeoutMs?: number): Promise<T[]>;
  async waitFor(match: (e: E) => boolean, n?: number, timeoutMs?: number): Promise<E[]>;
  async waitFor(match: (e: E) => boolean, n = 1, timeoutMs = 10_000): Promise<E[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.events.filter(match).length < n) {
      this.source.drain();
      await sleep(20);
    }
    await this.settle();
    return this.events.filter(match);
  }

  /**
   * Waits until every record the kernel has submitted so far (its own
   * events counter) has arrived: an event that is not here then was never sent.
   */
  async settle(timeoutMs = 10_000): Promise<void> {
    const submitted = this.source.stats().events;
    const deadline = Date.now() + timeoutMs;
    while (BigInt(this.received) < submitted) {
      if (Date.now() > deadline) throw new Error(`${this.received} of ${submitted} submitted records arrived`);
      this.source.drain();
      await sleep(20);
    }
  }

  close(): void {
    this.source.close();
  }
}
