/**
 * Builds raw event records from an EventLayout, the way the kernel lays them
 * out, for decoder tests: numbers go in little-endian at the field's size,
 * strings and buffers are copied (NUL padding comes from the zeroed record).
 */
import type { EventLayout } from '../../receiver/src/decode/layout';

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
