/**
 * The kernel ABI as the compiler saw it: enums and structs read from the BPF
 * objects' BTF with bpftool (an independent reader, not our addon), and the
 * names the headers in bpf/ declare. checkAbi() lists every disagreement
 * between them and the TypeScript mirrors; test/layout.test.ts fails on any.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EventLayout } from '../../receiver/src/decode/layout';

export interface BtfEnum {
  readonly name: string;
  readonly values: ReadonlyMap<string, number>;
}

export interface ObjectBtf {
  readonly object: string;
  readonly enums: ReadonlyMap<string, BtfEnum>;
  readonly structs: ReadonlySet<string>;
}

interface BpftoolType {
  kind: string;
  name: string;
  values?: Array<{ name: string; val: number }>;
}

/** Enums and struct names in one object's BTF (`bpftool -j btf dump file`). */
export function readObjectBtf(file: string): ObjectBtf {
  const out = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const { types } = JSON.parse(out) as { types: BpftoolType[] };
  const enums = new Map<string, BtfEnum>();
  const structs = new Set<string>();
  for (const t of types) {
    if ((t.kind === 'ENUM' || t.kind === 'ENUM64') && t.name !== '(anon)') {
      enums.set(t.name, { name: t.name, values: new Map((t.values ?? []).map((v) => [v.name, Number(v.val)])) });
    } else if (t.kind === 'STRUCT') {
      structs.add(t.name);
    }
  }
  return { object: path.basename(file, '.bpf.o'), enums, structs };
}

/** Every build/bpf/*.bpf.o. */
export function readAllBtf(bpfDir: string): ObjectBtf[] {
  return readdirSync(bpfDir)
    .filter((f) => f.endsWith('.bpf.o'))
    .sort()
    .map((f) => readObjectBtf(path.join(bpfDir, f)));
}

export interface HeaderDecls {
  /** enum name -> header file */
  readonly enums: ReadonlyMap<string, string>;
  readonly structs: ReadonlyMap<string, string>;
}

/** The named enums and structs every bpf/*.h defines (comments stripped). */
export function readHeaderDecls(headerDir: string): HeaderDecls {
  const enums = new Map<string, string>();
  const structs = new Map<string, string>();
  for (const file of readdirSync(headerDir).filter((f) => f.endsWith('.h')).sort()) {
    const text = readFileSync(path.join(headerDir, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const m of text.matchAll(/\benum\s+(\w+)\s*\{/g)) enums.set(m[1] as string, file);
    for (const m of text.matchAll(/\bstruct\s+(\w+)\s*\{/g)) structs.set(m[1] as string, file);
  }
  return { enums, structs };
}

/**
 * A TypeScript mirror of a C enum. Keys are the C enumerators without
 * `prefix`, in PascalCase (TCP_STAT_RINGBUF_DROPS -> RingbufDrops), unless
 * `cNames` says otherwise. A C enumerator named <prefix>_COUNT (two
 * underscores) is the number of values: it must equal `count`.
 */
export interface EnumMirror {
  readonly cEnum: string;
  readonly prefix: string;
  readonly values: Readonly<Record<string, number>>;
  readonly count?: number;
  readonly cNames?: Readonly<Record<string, string>>;
}

export function cEnumerator(mirror: EnumMirror, key: string): string {
  return mirror.cNames?.[key] ?? mirror.prefix + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export interface AbiExpectations {
  readonly enums: readonly EnumMirror[];
  readonly layouts: readonly EventLayout[];
  /** Header enums/structs only the kernel side uses, with the reason. */
  readonly kernelOnly?: Readonly<Record<string, string>>;
}

/** Every disagreement between headers, BTF and the TypeScript mirrors, as messages naming the fix. */
export function checkAbi(objects: readonly ObjectBtf[], headers: HeaderDecls, expected: AbiExpectations): string[] {
  const problems: string[] = [];
  const kernelOnly = expected.kernelOnly ?? {};

  // One enum, one meaning: the same enum in two objects must agree.
  const enums = new Map<string, BtfEnum>();
  for (const o of objects) {
    for (const e of o.enums.values()) {
      const seen = enums.get(e.name);
      if (!seen) enums.set(e.name, e);
      else if (JSON.stringify([...seen.values]) !== JSON.stringify([...e.values])) {
        problems.push(`enum ${e.name} differs between objects (${o.object}.bpf.o): rebuild with 'make -C bpf'`);
      }
    }
  }
  const mirrored = new Set(expected.enums.map((m) => m.cEnum));
  for (const [name, header] of headers.enums) {
    if (!enums.has(name)) {
      problems.push(`enum ${name} (bpf/${header}) is in no object's BTF: add EBPF_OTEL_BTF_ENUM(${name}) after it`);
    }
    if (!mirrored.has(name) && !(name in kernelOnly)) {
      problems.push(`enum ${name} (bpf/${header}) has no TypeScript mirror: add one to the ABI table of test/layout.test.ts`);
    }
  }
  for (const mirror of expected.enums) {
    const btf = enums.get(mirror.cEnum);
    if (!btf) {
      problems.push(`enum ${mirror.cEnum} is mirrored in TypeScript but in no object's BTF`);
      continue;
    }
    const covered = new Set<string>();
    for (const [key, value] of Object.entries(mirror.values)) {
      const c = cEnumerator(mirror, key);
      covered.add(c);
      const actual = btf.values.get(c);
      if (actual === undefined) problems.push(`enum ${mirror.cEnum} has no ${c} (TypeScript ${key} = ${value})`);
      else if (actual !== value) problems.push(`enum ${mirror.cEnum}: ${c} is ${actual} in C, ${value} in TypeScript (${key})`);
    }
    for (const [c, value] of btf.values) {
      if (covered.has(c)) continue;
      if (c.endsWith('__COUNT')) {
        if (mirror.count !== value) problems.push(`enum ${mirror.cEnum}: ${c} is ${value} in C, the TypeScript count is ${String(mirror.count)}`);
      } else {
        problems.push(`enum ${mirror.cEnum}: ${c} = ${value} is not in the TypeScript mirror`);
      }
    }
  }

  const layouts = new Set(expected.layouts.map((l) => l.struct));
  for (const [name, header] of headers.structs) {
    if (!objects.some((o) => o.structs.has(name))) {
      problems.push(`struct ${name} (bpf/${header}) is in no object's BTF: add EBPF_OTEL_BTF_STRUCT(${name}) after it`);
    }
    if (!layouts.has(name) && !(name in kernelOnly)) {
      problems.push(`struct ${name} (bpf/${header}) has no TypeScript layout: add an EventLayout (and, for an event, a DECODERS entry)`);
    }
  }
  for (const layout of expected.layouts) {
    const object = objects.find((o) => o.object === layout.object);
    if (!object) problems.push(`layout ${layout.struct}: no object ${layout.object}.bpf.o`);
    else if (!object.structs.has(layout.struct)) problems.push(`layout ${layout.struct}: not in ${layout.object}.bpf.o's BTF`);
  }
  return problems;
}
