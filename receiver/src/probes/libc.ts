/**
 * Which C libraries to probe for name lookups, found the way the dynamic
 * linker finds them (probes/libraries.ts: libc.so.6 in ld.so's order,
 * /etc/ld.so.cache included), musl's libc (its dynamic linker
 * /lib/ld-musl-<arch>.so.1), and the C libraries running processes have
 * mapped (/proc/<pid>/maps, through /proc/<pid>/root when the process sees
 * another file at that path, so a container's own libc counts too).
 * Uprobes are per file (inode): each distinct file is probed once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileOffsetOf, readElf, type ElfFile } from '../elf';
import { mappedFiles, readLdCache, resolveLibrary } from './libraries';

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
export function systemLibcCandidates(): Array<{ path: string; via: string }> {
  const out: Array<{ path: string; via: string }> = [];
  const machine = ownMachine();
  const glibc = machine === undefined ? undefined : resolveLibrary('libc.so.6', { machine, runpath: [], rpath: [] });
  if (glibc) out.push({ path: glibc, via: readLdCache().get('libc.so.6')?.includes(glibc) ? 'ld.so.cache' : 'library path' });
  const musl = muslArch(process.arch);
  if (musl) out.push({ path: `/lib/ld-musl-${musl}.so.1`, via: 'musl' });
  return out;
}

/** The C libraries running processes have mapped, by a path this process can open. */
export function mappedLibcCandidates(): Array<{ path: string; via: string }> {
  const out: Array<{ path: string; via: string }> = [];
  const seen = new Set<string>();
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    for (const file of mappedFiles(Number(pid))) {
      if (!isLibcFile(file.path) || seen.has(`${file.path}:${file.inode}`)) continue;
      seen.add(`${file.path}:${file.inode}`);
      out.push({ path: file.path, via: `process ${pid}` });
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
