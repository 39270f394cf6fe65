/**
 * Just enough ELF64 to place uprobes: symbol tables (.dynsym and .symtab),
 * program headers (link-time address -> file offset), the GNU build ID and
 * DT_NEEDED/RUNPATH/RPATH (which shared libraries a binary loads). Pure
 * TypeScript over positional reads, so a 100 MB binary is not read whole.
 * The format only: which library file a program loads is
 * probes/libraries.ts, where the bash probes go is probes/bash-target.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Not an ELF file we can read: the message names the file and the problem. */
export class ElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfError';
  }
}

export type ElfSymbolKind = 'function' | 'object' | 'other';

export interface ElfSymbol {
  readonly name: string;
  /** st_value: the link-time virtual address (0-based for PIE and shared objects). */
  readonly value: number;
  readonly size: number;
  readonly kind: ElfSymbolKind;
  /** From .dynsym (exported) or only from .symtab (local or unexported). */
  readonly table: 'dynsym' | 'symtab';
}

export interface ElfSegment {
  readonly vaddr: number;
  readonly offset: number;
  readonly fileSize: number;
  readonly memSize: number;
  readonly executable: boolean;
}

/** The GNU build ID note: identifies the exact binary, wherever a copy of it lives. */
export interface ElfBuildId {
  /** Link-time address of the ID bytes (the note's descriptor), in a loaded segment. */
  readonly vaddr: number;
  readonly bytes: Buffer;
}

export interface ElfFile {
  readonly path: string;
  /** ET_EXEC (fixed address), ET_DYN (PIE executable or shared object). */
  readonly type: 'exec' | 'dyn' | 'other';
  readonly machine: number;
  /** DT_NEEDED entries, in order ("libtinfo.so.6"). */
  readonly needed: readonly string[];
  /** DT_RUNPATH directories, $ORIGIN expanded. */
  readonly runpath: readonly string[];
  /** DT_RPATH directories (the older tag, used only without DT_RUNPATH), $ORIGIN expanded. */
  readonly rpath: readonly string[];
  readonly segments: readonly ElfSegment[];
  /** Symbols defined in this file (undefined imports are left out), by name. */
  readonly symbols: ReadonlyMap<string, ElfSymbol>;
  /** From a PT_NOTE segment; absent when linked without --build-id. */
  readonly buildId?: ElfBuildId;
}

const ELF_MAGIC = 0x464c457f; // "\x7fELF" little-endian
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const PT_LOAD = 1;
const PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;
/** Longest build ID the bash probe compares (SHA-1); shorter ones (xxhash, md5) also fit. */
export const BUILD_ID_MAX = 20;
const PF_X = 1;
const SHT_SYMTAB = 2;
const SHT_DYNAMIC = 6;
const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;
/** Refuse absurd tables rather than allocating gigabytes for a corrupt header. */
const MAX_TABLE_BYTES = 256 * 1024 * 1024;

interface Section {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly entrySize: number;
}

class FileReader {
  readonly size: number;
  constructor(
    private readonly fd: number,
    readonly path: string,
  ) {
    this.size = fs.fstatSync(fd).size;
  }

  read(offset: number, length: number, what: string): Buffer {
    if (length < 0 || length > MAX_TABLE_BYTES || offset < 0 || offset + length > this.size) {
      throw new ElfError(
        `${this.path}: ${what} lies outside the file (offset ${offset}, ${length} bytes, file is ${this.size} bytes): truncated or corrupt ELF`,
      );
    }
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new ElfError(`${this.path}: unexpected end of file reading ${what}`);
      done += n;
    }
    return buf;
  }
}

function toNumber(value: bigint, what: string, file: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ElfError(`${file}: ${what} 0x${value.toString(16)} is too large to handle`);
  }
  return Number(value);
}

function cString(table: Buffer, offset: number): string {
  if (offset >= table.length) return '';
  const end = table.indexOf(0, offset);
  return table.toString('latin1', offset, end === -1 ? table.length : end);
}

function symbolKind(info: number): ElfSymbolKind {
  const type = info & 0xf;
  if (type === STT_FUNC || type === STT_GNU_IFUNC) return 'function';
  if (type === STT_OBJECT) return 'object';
  return 'other';
}

/**
 * Reads the ELF64 little-endian file at `file`. Throws ElfError for anything
 * else (not ELF, 32-bit, big-endian, truncated) and the fs error when the file
 * cannot be opened.
 */
export function readElf(file: string): ElfFile {
  const fd = fs.openSync(file, 'r');
  try {
    return parse(new FileReader(fd, file));
  } finally {
    fs.closeSync(fd);
  }
}

function parse(reader: FileReader): ElfFile {
  const file = reader.path;
  if (reader.size < 64) throw new ElfError(`${file}: not an ELF file (${reader.size} bytes)`);
  const header = reader.read(0, 64, 'ELF header');
  if (header.readUInt32LE(0) !== ELF_MAGIC) throw new ElfError(`${file}: not an ELF file (no \\x7fELF magic)`);
  if (header[4] !== ELFCLASS64) throw new ElfError(`${file}: 32-bit ELF is not supported (only ELF64)`);
  if (header[5] !== ELFDATA2LSB) throw new ElfError(`${file}: big-endian ELF is not supported`);
  const elfType = header.readUInt16LE(16);
  const machine = header.readUInt16LE(18);
  const phoff = toNumber(header.readBigUInt64LE(32), 'e_phoff', file);
  const shoff = toNumber(header.readBigUInt64LE(40), 'e_shoff', file);
  const phentsize = header.readUInt16LE(54);
  const phnum = header.readUInt16LE(56);
  const shentsize = header.readUInt16LE(58);
  const shnum = header.readUInt16LE(60);

  const segments: ElfSegment[] = [];
  let buildId: ElfBuildId | undefined;
  if (phnum > 0) {
    if (phentsize < 56) throw new ElfError(`${file}: program header entries of ${phentsize} bytes (expected 56)`);
    const table = reader.read(phoff, phnum * phentsize, 'program headers');
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize;
      const segmentType = table.readUInt32LE(at);
      if (segmentType === PT_NOTE && !buildId) {
        buildId = findBuildId(
          reader,
          toNumber(table.readBigUInt64LE(at + 8), 'p_offset', file),
          toNumber(table.readBigUInt64LE(at + 16), 'p_vaddr', file),
          toNumber(table.readBigUInt64LE(at + 32), 'p_filesz', file),
        );
      }
      if (segmentType !== PT_LOAD) continue;
      segments.push({
        executable: (table.readUInt32LE(at + 4) & PF_X) !== 0,
        offset: toNumber(table.readBigUInt64LE(at + 8), 'p_offset', file),
        vaddr: toNumber(table.readBigUInt64LE(at + 16), 'p_vaddr', file),
        fileSize: toNumber(table.readBigUInt64LE(at + 32), 'p_filesz', file),
        memSize: toNumber(table.readBigUInt64LE(at + 40), 'p_memsz', file),
      });
    }
  }

  const sections: Section[] = [];
  if (shnum > 0 && shoff > 0) {
    if (shentsize < 64) throw new ElfError(`${file}: section header entries of ${shentsize} bytes (expected 64)`);
    const table = reader.read(shoff, shnum * shentsize, 'section headers');
    for (let i = 0; i < shnum; i++) {
      const at = i * shentsize;
      sections.push({
        type: table.readUInt32LE(at + 4),
        offset: toNumber(table.readBigUInt64LE(at + 24), 'sh_offset', file),
        size: toNumber(table.readBigUInt64LE(at + 32), 'sh_size', file),
        link: table.readUInt32LE(at + 40),
        entrySize: toNumber(table.readBigUInt64LE(at + 56), 'sh_entsize', file),
      });
    }
  }

  const stringTable = (section: Section, what: string): Buffer => {
    const strings = sections[section.link];
    if (!strings) throw new ElfError(`${file}: ${what} links to missing string table ${section.link}`);
    return reader.read(strings.offset, strings.size, `${what} strings`);
  };

  // .symtab first, then .dynsym over it: an exported definition wins.
  const symbols = new Map<string, ElfSymbol>();
  for (const [sectionType, table] of [
    [SHT_SYMTAB, 'symtab'],
    [SHT_DYNSYM, 'dynsym'],
  ] as const) {
    for (const section of sections.filter((s) => s.type === sectionType)) {
      const entrySize = section.entrySize || 24;
      if (entrySize < 24) throw new ElfError(`${file}: ${table} entries of ${entrySize} bytes (expected 24)`);
      const names = stringTable(section, table);
      const data = reader.read(section.offset, section.size, table);
      for (let at = 0; at + 24 <= data.length; at += entrySize) {
        const shndx = data.readUInt16LE(at + 6);
        if (shndx === SHN_UNDEF) continue;
        const name = cString(names, data.readUInt32LE(at));
        if (name === '') continue;
        symbols.set(name, {
          name,
          kind: symbolKind(data[at + 4] ?? 0),
          value: toNumber(data.readBigUInt64LE(at + 8), `st_value of ${name}`, file),
          size: toNumber(data.readBigUInt64LE(at + 16), `st_size of ${name}`, file),
          table,
        });
      }
    }
  }

  const needed: string[] = [];
  const runpath: string[] = [];
  const rpath: string[] = [];
  for (const section of sections.filter((s) => s.type === SHT_DYNAMIC)) {
    const names = stringTable(section, 'dynamic section');
    const data = reader.read(section.offset, section.size, 'dynamic section');
    for (let at = 0; at + 16 <= data.length; at += 16) {
      const tag = data.readBigInt64LE(at);
      if (tag === DT_NULL) break;
      const value = data.readBigUInt64LE(at + 8);
      if (tag === DT_NEEDED) {
        needed.push(cString(names, toNumber(value, 'DT_NEEDED', file)));
      } else if (tag === DT_RUNPATH || tag === DT_RPATH) {
        const origin = path.dirname(path.resolve(file));
        for (const dir of cString(names, toNumber(value, 'DT_RUNPATH', file)).split(':')) {
          if (dir !== '') (tag === DT_RUNPATH ? runpath : rpath).push(dir.replace(/\$(ORIGIN|\{ORIGIN\})/g, origin));
        }
      }
    }
  }

  return {
    path: file,
    type: elfType === ET_EXEC ? 'exec' : elfType === ET_DYN ? 'dyn' : 'other',
    machine,
    needed,
    runpath,
    rpath,
    segments,
    symbols,
    ...(buildId ? { buildId } : {}),
  };
}

/** The NT_GNU_BUILD_ID note among the notes of one PT_NOTE segment (4-byte aligned entries). */
function findBuildId(reader: FileReader, offset: number, vaddr: number, size: number): ElfBuildId | undefined {
  const notes = reader.read(offset, size, 'PT_NOTE segment');
  const align4 = (n: number): number => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.length; ) {
    const nameSize = notes.readUInt32LE(at);
    const descSize = notes.readUInt32LE(at + 4);
    const type = notes.readUInt32LE(at + 8);
    const desc = at + 12 + align4(nameSize);
    if (desc + descSize > notes.length) return undefined;
    const name = notes.toString('latin1', at + 12, at + 12 + nameSize);
    if (type === NT_GNU_BUILD_ID && name === 'GNU\0' && descSize > 0 && descSize <= BUILD_ID_MAX) {
      return { vaddr: vaddr + desc, bytes: Buffer.from(notes.subarray(desc, desc + descSize)) };
    }
    at = desc + align4(descSize);
  }
  return undefined;
}

/**
 * File offset of a link-time address (what a uprobe on a file is placed
 * with), from the PT_LOAD segment that maps it; undefined when no segment
 * maps it from the file (e.g. .bss).
 */
export function fileOffsetOf(elf: ElfFile, vaddr: number): number | undefined {
  for (const segment of elf.segments) {
    if (vaddr >= segment.vaddr && vaddr < segment.vaddr + segment.fileSize) {
      return vaddr - segment.vaddr + segment.offset;
    }
  }
  return undefined;
}

/** A function to probe: its link-time address and where it is in the file. */
export interface ProbedFunction {
  readonly name: string;
  readonly vaddr: number;
  /** Offset in `module` for a uprobe attach by offset. */
  readonly fileOffset: number;
}

/** A defined function with its code in the file (what a uprobe can attach to by offset); undefined otherwise. */
export function probedFunction(elf: ElfFile, name: string): ProbedFunction | undefined {
  const symbol = elf.symbols.get(name);
  if (!symbol || symbol.kind !== 'function' || symbol.value === 0) return undefined;
  const fileOffset = fileOffsetOf(elf, symbol.value);
  if (fileOffset === undefined) return undefined;
  return { name, vaddr: symbol.value, fileOffset };
}
