/**
 * Which C libraries to probe for name lookups, found the way the dynamic
 * linker finds them: libc.so.6 through /etc/ld.so.cache (then the default
 * directories), musl's libc (its dynamic linker /lib/ld-musl-<arch>.so.1),
 * and the C libraries running processes have mapped (/proc/<pid>/maps,
 * reached through /proc/<pid>/root, so a container's own libc counts too).
 * Uprobes are per file (inode): each distinct file is probed once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultLibraryDirs, fileOffsetOf, readElf, type ElfFile } from '../elf';

/** The resolver functions probed, as exported by glibc and musl. */
export const RESOLVER_FUNCTIONS = ['getaddrinfo', 'gethostbyname', 'gethostbyname2', 'gethostbyname_r', 'gethostbyname2_r'] as const;
export type ResolverFunction = (typeof RESOLVER_FUNCTIONS)[number];

export interface LibcTarget {
  /** The file the uprobes attach to (maybe through /proc/<pid>/root). */
  readonly path: string;
  /** How it was found: 'ld.so.cache', 'default directories', 'musl', 'process <pid>', 'configured'. */
  readonly via: string;
  /** File offset of each resolver function present. */
  readonly functions: ReadonlyMap<ResolverFunction, number>;
  /** Resolver functions this library does not export. */
  readonly missing: readonly ResolverFunction[];
}

export interface LibcSkipped {
  readonly path: string;
  readonly reason: string;
}

export interface LibcSearch {
  readonly targets: LibcTarget[];
  readonly skipped: LibcSkipped[];
}

const LD_CACHE_NEW_MAGIC = 'glibc-ld.so.cache1.1';
const LD_CACHE_OLD_MAGIC = 'ld.so-1.7.0';

/**
 * The (name, path) pairs of an ld.so.cache (glibc's format, new or old+new).
 * Undefined when the bytes are not a cache we can read.
 */
export function parseLdSoCache(buf: Buffer): Array<{ name: string; path: string }> | undefined {
  let start = 0;
  if (buf.toString('latin1', 0, LD_CACHE_OLD_MAGIC.length) === LD_CACHE_OLD_MAGIC) {
    // Old format first (12-byte header, 12-byte entries), the new one after it, 8-byte aligned.
    if (buf.length < 16) return undefined;
    const n = buf.readUInt32LE(12);
    start = (16 + n * 12 + 7) & ~7;
    if (buf.toString('latin1', start, start + LD_CACHE_NEW_MAGIC.length) !== LD_CACHE_NEW_MAGIC) return undefined;
  } else if (buf.toString('latin1', 0, LD_CACHE_NEW_MAGIC.length) !== LD_CACHE_NEW_MAGIC) {
    return undefined;
  }
  // Header: magic+version (20), nlibs (4), len_strings (4), flags (4), extension offset (4), unused (12).
  if (buf.length < start + 48) return undefined;
  const count = buf.readUInt32LE(start + 20);
  const entries: Array<{ name: string; path: string }> = [];
  const str = (offset: number): string => {
    // New-format string offsets count from the start of the new header.
    const at = start + offset;
    if (at >= buf.length) return '';
    const end = buf.indexOf(0, at);
    return buf.toString('utf8', at, end === -1 ? buf.length : end);
  };
  for (let i = 0; i < count; i++) {
    const at = start + 48 + i * 24;
    if (at + 24 > buf.length) return undefined;
    entries.push({ name: str(buf.readUInt32LE(at + 4)), path: str(buf.readUInt32LE(at + 8)) });
  }
  return entries;
}

/** A mapped file that is a C library: glibc's libc.so.6 (or libc-2.x.so) or musl's. */
export function isLibcFile(file: string): boolean {
  const base = path.basename(file);
  return /^libc\.so(\.\d+)?$/.test(base) || /^libc-\d+(\.\d+)*\.so$/.test(base) || /^ld-musl-[\w-]+\.so\.1$/.test(base) || /^libc\.musl-[\w-]+\.so\.1$/.test(base);
}

function muslArch(arch: string): string | undefined {
  return arch === 'x64' ? 'x86_64' : arch === 'arm64' ? 'aarch64' : undefined;
}

/** A machine number (e_machine) for this process's architecture. */
function ownMachine(): number | undefined {
  return process.arch === 'x64' ? 62 : process.arch === 'arm64' ? 183 : undefined;
}

/** The files the system's dynamic linkers would load as the C library. */
export function systemLibcCandidates(ldCache = '/etc/ld.so.cache', dirs: readonly string[] = defaultLibraryDirs()): Array<{ path: string; via: string }> {
  const out: Array<{ path: string; via: string }> = [];
  let cached: Array<{ name: string; path: string }> | undefined;
  try {
    cached = parseLdSoCache(fs.readFileSync(ldCache));
  } catch {
    cached = undefined;
  }
  const fromCache = (cached ?? []).filter((e) => e.name === 'libc.so.6');
  for (const e of fromCache) out.push({ path: e.path, via: 'ld.so.cache' });
  if (fromCache.length === 0) {
    for (const dir of dirs) out.push({ path: path.join(dir, 'libc.so.6'), via: 'default directories' });
  }
  const musl = muslArch(process.arch);
  if (musl) out.push({ path: `/lib/ld-musl-${musl}.so.1`, via: 'musl' });
  return out;
}

/** The C libraries running processes have mapped, by the path their process sees. */
export function mappedLibcCandidates(procRoot = '/proc'): Array<{ path: string; via: string }> {
  const out: Array<{ path: string; via: string }> = [];
  const seen = new Set<string>();
  let pids: string[];
  try {
    pids = fs.readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let maps: string;
    try {
      maps = fs.readFileSync(path.join(procRoot, pid, 'maps'), 'utf8');
    } catch {
      continue; // gone, or not ours to read
    }
    let root: string;
    try {
      const st = fs.statSync(path.join(procRoot, pid, 'root'));
      root = `${st.dev}:${st.ino}`;
    } catch {
      continue;
    }
    for (const line of maps.split('\n')) {
      const slash = line.indexOf('/');
      if (slash === -1) continue;
      const file = line.slice(slash);
      if (!isLibcFile(file)) continue;
      const key = `${root}:${file}`; // processes sharing a root see the same file at one path
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ path: path.join(procRoot, pid, 'root', file), via: `process ${pid} (${file})` });
    }
  }
  return out;
}

/**
 * Reads each candidate and keeps the ones exporting a resolver function,
 * once per file. Nothing here throws for an unusable candidate: it is
 * skipped with the reason (missing files are left out silently unless
 * `configured`).
 */
export function findLibcs(candidates: ReadonlyArray<{ path: string; via: string }>, configured = false): LibcSearch {
  const targets: LibcTarget[] = [];
  const skipped: LibcSkipped[] = [];
  const seen = new Set<string>();
  const machine = ownMachine();
  for (const c of candidates) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(c.path);
    } catch (err) {
      if (configured) skipped.push({ path: c.path, reason: `cannot read it: ${(err as Error).message}` });
      continue;
    }
    const id = `${stat.dev}:${stat.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    let elf: ElfFile;
    try {
      elf = readElf(c.path);
    } catch (err) {
      skipped.push({ path: c.path, reason: (err as Error).message });
      continue;
    }
    if (machine !== undefined && elf.machine !== machine) {
      skipped.push({ path: c.path, reason: `built for another architecture (e_machine ${elf.machine})` });
      continue;
    }
    const functions = new Map<ResolverFunction, number>();
    const missing: ResolverFunction[] = [];
    for (const name of RESOLVER_FUNCTIONS) {
      const symbol = elf.symbols.get(name);
      const offset = symbol && symbol.kind === 'function' && symbol.value !== 0 ? fileOffsetOf(elf, symbol.value) : undefined;
      if (offset === undefined) missing.push(name);
      else functions.set(name, offset);
    }
    if (functions.size === 0) {
      skipped.push({ path: c.path, reason: `exports none of ${RESOLVER_FUNCTIONS.join(', ')} (stripped, or not a C library)` });
      continue;
    }
    targets.push({ path: c.path, via: c.via, functions, missing });
  }
  return { targets, skipped };
}
