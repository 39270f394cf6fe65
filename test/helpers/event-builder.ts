/**
 * Builds raw event records from an EventLayout, the way the kernel lays them
 * out, for decoder tests: numbers go in little-endian at the field's size,
 * strings and buffers are copied (NUL padding comes from the zeroed record).
 */
import type { EventLayout } from '../../receiver/src/decode/layout';
import { AF_INET, parseAddress, TCP_CONNECT_LAYOUT } from '../../receiver/src/decode/tcp-connect';

export type FieldValue = number | bigint | string | Buffer;

export function buildRecord<F extends string>(
  layout: EventLayout<F>,
  values: Partial<Record<F, FieldValue>>,
  length: number = layout.size,
): Buffer {
  const buf = Buffer.alloc(Math.max(length, layout.size));
  for (const [name, value] of Object.entries(values) as Array<[F, FieldValue | undefined]>) {
    if (value === undefined) continue;
    const { offset, size } = layout.fields[name];
    if (typeof value === 'string' || Buffer.isBuffer(value)) {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      if (bytes.length > size) throw new Error(`${String(name)}: ${bytes.length} bytes do not fit in ${size}`);
      bytes.copy(buf, offset);
    } else if (size === 8) {
      buf.writeBigUInt64LE(BigInt(value), offset);
    } else if (size === 4) {
      if (typeof value === 'number' && value < 0) buf.writeInt32LE(value, offset);
      else buf.writeUInt32LE(Number(value), offset);
    } else if (size === 2) {
      buf.writeUInt16LE(Number(value), offset);
    } else {
      throw new Error(`${String(name)}: cannot write a number into ${size} bytes`);
    }
  }
  return buf.subarray(0, length);
}

/** Builds a record the way the kernel lays it out (bpf/tcpconnect.h). */
export function tcpRecord(fields: {
  outcome?: number; start?: bigint; end?: bigint; pid?: number; tid?: number; uid?: number; err?: number;
  family?: number; sport?: number; dport?: number; saddr?: string; daddr?: string; comm?: string; type?: number;
}): Buffer {
  const F = TCP_CONNECT_LAYOUT.fields;
  const b = Buffer.alloc(TCP_CONNECT_LAYOUT.size);
  b.writeUInt32LE(fields.type ?? 1, F.type.offset);
  b.writeUInt32LE(fields.outcome ?? 0, F.outcome.offset);
  b.writeBigUInt64LE(fields.start ?? 1_000n, F.start_ns.offset);
  b.writeBigUInt64LE(fields.end ?? 2_000n, F.end_ns.offset);
  b.writeBigUInt64LE(42n, F.cgroup_id.offset);
  b.writeUInt32LE(fields.pid ?? 100, F.pid.offset);
  b.writeUInt32LE(fields.tid ?? 101, F.tid.offset);
  b.writeUInt32LE(fields.uid ?? 0, F.uid.offset);
  b.writeInt32LE(fields.err ?? 0, F.sk_err.offset);
  const family = fields.family ?? AF_INET;
  b.writeUInt16LE(family, F.family.offset);
  b.writeUInt16LE(fields.sport ?? 40000, F.sport.offset);
  b.writeUInt16LE(fields.dport ?? 80, F.dport.offset);
  Buffer.from(parseAddress(fields.saddr ?? '10.0.0.1').bytes).copy(b, F.saddr.offset);
  Buffer.from(parseAddress(fields.daddr ?? '10.0.0.2').bytes).copy(b, F.daddr.offset);
  b.write(fields.comm ?? 'curl', F.comm.offset, 'utf8');
  return b;
}
