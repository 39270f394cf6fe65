/**
 * What every probe does with the addon: encode settings for `const volatile`
 * globals, split ring buffer batches into records, sum per-CPU counters.
 */
import type { BpfMap } from '../../../addon/lib/index';

export function u8(v: number | boolean): Buffer {
  const b = Buffer.alloc(1);
  b.writeUInt8(typeof v === 'boolean' ? (v ? 1 : 0) : v);
  return b;
}
export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
export function u64(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

/**
 * Calls `onRecord` for each record of a batch framed by the addon as
 * [u32 little-endian length][bytes]. Returns false if the framing is broken
 * (the rest of the batch is then skipped and the caller counts it).
 */
export function forEachRecord(batch: Buffer, count: number, onRecord: (record: Buffer) => void): boolean {
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > batch.length) return false;
    const length = batch.readUInt32LE(offset);
    offset += 4;
    if (offset + length > batch.length) return false;
    onRecord(batch.subarray(offset, offset + length));
    offset += length;
  }
  return true;
}

/** Sums a per-CPU array of __u64 counters indexed 0..n-1. */
export function readPerCpuCounters(map: BpfMap, n: number): bigint[] {
  const totals = new Array<bigint>(n).fill(0n);
  const key = Buffer.alloc(4);
  const stride = Math.ceil(map.valueSize / 8) * 8;
  for (let i = 0; i < n; i++) {
    key.writeUInt32LE(i);
    const value = map.lookup(key);
    if (!value) continue;
    let sum = 0n;
    for (let cpu = 0; cpu + 8 <= value.length; cpu += stride) sum += value.readBigUInt64LE(cpu);
    totals[i] = sum;
  }
  return totals;
}
