/**
 * Loads a BPF object through the addon and keeps every decoded ring buffer
 * record of its `events` map, for kernel tests that cause real activity and
 * then wait for the events it produced.
 */
import path from 'node:path';
import { BpfObject, splitBatch, type RingBufferReader } from '../../addon/lib/index';
import { DecodeError } from '../../receiver/src/decode/layout';

export const BPF_DIR = path.resolve(__dirname, '../../../build/bpf');

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class RingCapture<E> {
  readonly events: E[] = [];
  /** Raw records, to check what never reaches user space (e.g. environment bytes). */
  readonly raw: Buffer[] = [];
  decodeErrors: DecodeError[] = [];
  readonly #reader: RingBufferReader;

  constructor(
    readonly object: BpfObject,
    decode: (record: Buffer) => E | undefined,
  ) {
    this.#reader = object.openRingBuffer('events', (batch) => {
      for (const record of splitBatch(batch)) {
        this.raw.push(Buffer.from(record));
        try {
          const event = decode(record);
          if (event !== undefined) this.events.push(event);
        } catch (err) {
          if (err instanceof DecodeError) this.decodeErrors.push(err);
          else throw err;
        }
      }
    });
  }

  /** Waits until `match` holds `n` events (then a little longer for unwanted extras). */
  async waitFor<T extends E>(match: (e: E) => e is T, n?: number, timeoutMs?: number): Promise<T[]>;
  async waitFor(match: (e: E) => boolean, n?: number, timeoutMs?: number): Promise<E[]>;
  async waitFor(match: (e: E) => boolean, n = 1, timeoutMs = 10_000): Promise<E[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.events.filter(match).length < n) {
      this.#reader.consume();
      await sleep(20);
    }
    await sleep(150);
    this.#reader.consume();
    return this.events.filter(match);
  }

  close(): void {
    this.#reader.close();
    this.object.close();
  }
}

/** Sum over CPUs of each __u64 slot 0..n-1 of a per-CPU array map. */
export function perCpuCounters(object: BpfObject, mapName: string, n: number): bigint[] {
  const map = object.map(mapName);
  const totals: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(i);
    const slots = map.lookupPerCpu(key) ?? [];
    totals.push(slots.reduce((sum, slot) => sum + slot.readBigUInt64LE(0), 0n));
  }
  return totals;
}

export function u32(value: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32LE(value);
  return buf;
}

export function u64(value: number | bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(BigInt(value));
  return buf;
}
