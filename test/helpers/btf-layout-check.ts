/**
 * Compares an EventLayout with its C struct as the compiled BPF object's BTF
 * describes it (via `bpftool -j btf dump file`). Returns the differences, one
 * line each; empty when they agree.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { EventLayout } from '../../receiver/src/decode/layout';

interface BtfMember {
  readonly name: string;
  readonly type_id: number;
  readonly bits_offset: number;
}
interface BtfType {
  readonly id: number;
  readonly kind: string;
  readonly name?: string;
  readonly size?: number;
  readonly type_id?: number;
  readonly nr_elems?: number;
  readonly members?: readonly BtfMember[];
}

export const BPF_BUILD_DIR = path.resolve(__dirname, '..', '..', '..', 'build', 'bpf');

function loadTypes(object: string): Map<number, BtfType> {
  const file = path.join(BPF_BUILD_DIR, `${object}.bpf.o`);
  const json = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const types = (JSON.parse(json) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  if (!t) throw new Error(`BTF type ${id} missing`);
  switch (t.kind) {
    case 'INT':
    case 'ENUM':
    case 'STRUCT':
    case 'UNION':
      return t.size ?? 0;
    case 'PTR':
      return 8;
    case 'ARRAY':
      return (t.nr_elems ?? 0) * sizeOf(types, t.type_id ?? 0);
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
      return sizeOf(types, t.type_id ?? 0);
    default:
      throw new Error(`BTF kind ${t.kind} not handled`);
  }
}

export function layoutDifferences(layout: EventLayout): string[] {
  const types = loadTypes(layout.object);
  const struct = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === layout.struct);
  if (!struct) return [`struct ${layout.struct} is not in ${layout.object}.bpf.o's BTF`];
  const problems: string[] = [];
  if (struct.size !== layout.size) problems.push(`${layout.struct}: size ${layout.size} in TS, ${struct.size} in C`);
  const members = struct.members ?? [];
  const fields = layout.fields as Readonly<Record<string, { offset: number; size: number }>>;
  for (const member of members) {
    const field = fields[member.name];
    if (!field) {
      problems.push(`${layout.struct}.${member.name} is missing in TS`);
      continue;
    }
    const offset = member.bits_offset / 8;
    const size = sizeOf(types, member.type_id);
    if (field.offset !== offset || field.size !== size) {
      problems.push(`${layout.struct}.${member.name}: TS ${field.offset}+${field.size}, C ${offset}+${size}`);
    }
  }
  for (const name of Object.keys(fields)) {
    if (!members.some((m) => m.name === name)) problems.push(`${layout.struct}.${name} is not in the C struct`);
  }
  return problems;
}
