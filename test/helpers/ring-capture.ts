/**
 * Keeps every decoded ring buffer record of a probe (or of a bare BPF
 * object's `events` map), for kernel tests that cause real activity and then
 * wait for the events it produced.
 */
import path from 'node:path';
import { splitBatch, type BpfObject } from '../../addon/lib/index';
import { DecodeError } from '../../receiver/src/decode/layout';

/** What the probes in receiver/src/probes offer. */
export interface RecordSource {
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void;
  drain(): void;
  close(): void;
}

/** A loaded object's `events` ring buffer as a RecordSource. */
export function objectSource(object: BpfObject): RecordSource {
  let reader: ReturnType<BpfObject['openRingBuffer']> | undefined;
  return {
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

  constructor(
    readonly source: S,
    decode: (record: Buffer) => E | undefined,
  ) {
    source.start(
      (record) => {
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

  /** Waits until `match` holds `n` events (then a little longer for unwanted extras). */
  async waitFor<T extends E>(match: (e: E) => e is T, n?: number, timeoutMs?: number): Promise<T[]>;
  async waitFor(match: (e: E) => boolean, n?: number, timeoutMs?: number): Promise<E[]>;
  async waitFor(match: (e: E) => boolean, n = 1, timeoutMs = 10_000): Promise<E[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.events.filter(match).length < n) {
      this.source.drain();
      await sleep(20);
    }
    await sleep(150);
    this.source.drain();
    return this.events.filter(match);
  }

  close(): void {
    this.source.close();
  }
}
