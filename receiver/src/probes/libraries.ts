/**
 * Which shared library file a program loads, found the way the dynamic
 * linker finds it (ld.so(8)), and which files running processes really
 * mapped (/proc/<pid>/maps). Uprobes are per file: probing a different copy
 * of a library than the one a program loaded attaches fine and then sees
 * nothing. Generic over libraries (readline for the bash probe, libc for
 * others).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readElf, type ElfFile } from '../elf';

/** Where the dynamic linker looks when nothing else matched, most specific first. */
export function defaultLibraryDirs(arch: string = process.arch): string[] {
  const triplet =
    arch === 'x64' ? 'x86_64-linux-gnu' : arch === 'arm64' ? 'aarch64-linux-gnu' : arch === 'riscv64' ? 'riscv64-linux-gnu' : undefined;
  const dirs = triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`] : [];
  return [...dirs, '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
}

/** ld.so.cache: library name -> paths, in the cache's order (the linker takes the first that fits). */
export type LdCache = ReadonlyMap<string, readonly string[]>;

const CACHE_MAGIC_NEW = 'glibc-ld.so.cache1.1';
const CACHE_MAGIC_OLD = 'ld.so-1.7.0';
const NEW_HEADER_SIZE = 48; // magic+version 20, nlibs 4, len_strings 4, flags 1, pad 3, extension_offset 4, unused 12
const NEW_ENTRY_SIZE = 24; // flags 4, key 4, value 4, osversion 4, hwcap 8
const OLD_ENTRY_SIZE = 12; // flags 4, key 4, value 4

/**
 * Parses /etc/ld.so.cache (glibc's format 1.1, alone or after the old
 * libc5-compatible table). A missing or unreadable cache is an empty one:
 * the linker then searches the default directories, and so do we.
 */
export function readLdCache(file = '/etc/ld.so.cache'): LdCache {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    return new Map();
  }
  let base = 0;
  if (data.toString('latin1', 0, CACHE_MAGIC_OLD.length) === CACHE_MAGIC_OLD) {
    if (data.length < 16) return new Map();
    const oldCount = data.readUInt32LE(12);
    base = 16 + oldCount * OLD_ENTRY_SIZE;
    base = (base + 7) & ~7; // the new table follows, aligned
  }
  if (data.length < base + NEW_HEADER_SIZE || data.toString('latin1', base, base + CACHE_MAGIC_NEW.length) !== CACHE_MAGIC_NEW) {
    return new Map();
  }
  const count = data.readUInt32LE(base + 20);
  const cString = (offset: number): string | undefined => {
    const at = base + offset;
    if (at >= data.length) return undefined;
    const end = data.indexOf(0, at);
    return data.toString('utf8', at, end === -1 ? data.length : end);
  };
  const cache = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const at = base + NEW_HEADER_SIZE + i * NEW_ENTRY_SIZE;
    if (at + NEW_ENTRY_SIZE > data.length) break;
    const key = cString(data.readUInt32LE(at + 4));
    const value = cString(data.readUInt32LE(at + 8));
    if (!key || !value) continue;
    const paths = cache.get(key) ?? [];
    paths.push(value);
    cache.set(key, paths);
  }
  return cache;
}

let systemCache: LdCache | undefined;

/** How a library is searched for: each part defaults to what the system's dynamic linker uses. */
export interface LibrarySearch {
  /**
   * LD_LIBRARY_PATH of the programs being traced (default: this process's).
   * Shells started with another value are still found through their maps.
   */
  readonly ldLibraryPath?: string | undefined;
  /** Default: /etc/ld.so.cache. */
  readonly cache?: LdCache;
  /** Searched last. Default: defaultLibraryDirs(). */
  readonly dirs?: readonly string[];
}

/** The directories of an LD_LIBRARY_PATH value ('' and '.' entries mean the current directory to ld.so: skipped). */
function splitPath(value: string | undefined): string[] {
  return (value ?? '').split(/[:;]/).filter((d) => d !== '' && d !== '.');
}

/**
 * Who loads the library: an ELF file, or just a machine and no search paths
 * (e.g. `{ machine: readElf('/proc/self/exe').machine, runpath: [], rpath: [] }`
 * for "the system's libc.so.6").
 */
export type LibraryUser = Pick<ElfFile, 'machine' | 'runpath' | 'rpath'>;

/** An ELF for the same machine as `from` (skips 32-bit copies and other architectures). */
function fits(candidate: string, from: LibraryUser): boolean {
  try {
    return readElf(candidate).machine === from.machine;
  } catch {
    return false;
  }
}

/**
 * The file the dynamic linker would load for DT_NEEDED `name` of `from`, in
 * ld.so's order: DT_RPATH (only without DT_RUNPATH), LD_LIBRARY_PATH,
 * DT_RUNPATH, ld.so.cache, the default directories. Undefined when none fits.
 */
export function resolveLibrary(name: string, from: LibraryUser, search: LibrarySearch = {}): string | undefined {
  if (name.includes('/')) return fs.existsSync(name) ? name : undefined;
  const dirs: string[] = [
    ...(from.runpath.length === 0 ? from.rpath : []),
    ...splitPath('ldLibraryPath' in search ? search.ldLibraryPath : process.env.LD_LIBRARY_PATH),
    ...from.runpath,
  ];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (fits(candidate, from)) return candidate;
  }
  const cache = search.cache ?? (systemCache ??= readLdCache());
  for (const candidate of cache.get(name) ?? []) {
    if (fits(candidate, from)) return candidate;
  }
  for (const dir of search.dirs ?? defaultLibraryDirs()) {
    const candidate = path.join(dir, name);
    if (fits(candidate, from)) return candidate;
  }
  return undefined;
}

/** A file a process has mapped, as /proc/<pid>/maps names it. */
export interface MappedFile {
  /** A path this process can open: the mapped path, or through /proc/<pid>/root in another mount namespace. */
  readonly path: string;
  readonly inode: number;
}

/** Identity of a file (uprobes are per inode). */
export function fileIdentity(file: string): string {
  const stat = fs.statSync(file);
  return `${stat.dev}:${stat.ino}`;
}

/** The files `pid` maps (each once); empty when the process is gone or not ours to read. */
export function mappedFiles(pid: number): MappedFile[] {
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return [];
  }
  const seen = new Map<string, MappedFile>();
  for (const line of maps.split('\n')) {
    // address perms offset dev inode path
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const inode = Number(m[1]);
    const mapped = m[2] as string;
    if (inode === 0 || mapped.endsWith(' (deleted)') || seen.has(mapped)) continue;
    let usable = mapped;
    try {
      if (fs.statSync(mapped).ino !== inode) usable = `/proc/${pid}/root${mapped}`;
    } catch {
      usable = `/proc/${pid}/root${mapped}`;
    }
    seen.set(mapped, { path: usable, inode });
  }
  return [...seen.values()];
}

/** Pids of the processes whose executable is `file` (the same inode, whatever path started it). */
export function processesRunning(file: string): number[] {
  let identity: string;
  try {
    identity = fileIdentity(file);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fileIdentity(`/proc/${entry}/exe`) === identity) pids.push(Number(entry));
    } catch {
      // gone, a kernel thread, or not ours to read
    }
  }
  return pids;
}
