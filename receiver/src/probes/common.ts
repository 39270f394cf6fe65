/**
 * What every probe does with the addon: encode settings for `const volatile`
 * globals and sum per-CPU counters.
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

/** Sums a per-CPU array of __u64 counters indexed 0..n-1. */
export function readPerCpuCounters(map: BpfMap, n: number): bigint[] {
  const totals = new Array<bigint>(n).fill(0n);
  const key = Buffer.alloc(4);
  for (let i = 0; i < n; i++) {
    key.writeUInt32LE(i);
    for (const slot of map.lookupPerCpu(key) ?? []) totals[i] = (totals[i] as bigint) + slot.readBigUInt64LE(0);
  }
  return totals;
}
