/**
 * The service-naming policy: which service.name a process's spans get. Sources
 * are tried in the configured order (--service-name-from, default
 * "container,agent"; add environ first to read OTEL_SERVICE_NAME):
 *   environ    OTEL_SERVICE_NAME from the process's own environment
 *              (/proc/<pid>/environ; unreadable for another user's process without
 *              CAP_SYS_PTRACE, or gone: counted, next source)
 *   container  the executable name, for processes in a container (container.id known)
 *   exe        the executable name, for any process
 *   agent      the agent's own service.name (always applies; implied last)
 */
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';

export const SERVICE_NAME_SOURCES = ['environ', 'container', 'exe', 'agent'] as const;
export type ServiceNameSource = (typeof SERVICE_NAME_SOURCES)[number];
export const DEFAULT_SERVICE_NAME_FROM: readonly ServiceNameSource[] = ['container', 'agent'];

/** Bytes of a process's environment read at most (a hostile process can make it large). */
export const ENVIRON_MAX_BYTES = 128 * 1024;

/** The first `max` bytes of a file (procfs files have no size to ask for). */
function readBounded(file: string, max: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    let n = 0;
    while (n < max) {
      const got = readSync(fd, buf, n, max - n, null);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export type EnvironFailure = 'environ_unreadable' | 'process_gone';

export interface ServiceNamerOptions {
  sources: readonly ServiceNameSource[];
  agentServiceName: string;
  /** Processes remembered (pid -> name), least recently used evicted first. */
  maxEntries: number;
  procRoot?: string;
  onEnvironFailure?: (reason: EnvironFailure) => void;
}

/** OTEL_SERVICE_NAME from the bytes of /proc/<pid>/environ (NUL-separated NAME=value). */
export function serviceNameFromEnviron(environ: Buffer): string | undefined {
  const key = Buffer.from('OTEL_SERVICE_NAME=');
  let start = 0;
  while (start < environ.length) {
    let end = environ.indexOf(0, start);
    if (end < 0) end = environ.length;
    if (end - start > key.length && environ.subarray(start, start + key.length).equals(key)) {
      const value = environ.toString('utf8', start + key.length, end).trim();
      return value === '' ? undefined : value.slice(0, 256);
    }
    start = end + 1;
  }
  return undefined;
}

interface Remembered {
  comm: string;
  /** undefined: the environment had none (or could not be read). */
  fromEnviron: string | undefined;
}

export class ServiceNamer {
  private readonly procRoot: string;
  private readonly environCache = new Map<number, Remembered>();
  private readonly wantsEnviron: boolean;

  constructor(private readonly opts: ServiceNamerOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.wantsEnviron = opts.sources.includes('environ');
  }

  /** service.name for process `pid` running `comm`; `inContainer` when its container.id is known. */
  nameFor(pid: number, comm: string, inContainer: boolean): string {
    for (const source of this.opts.sources) {
      switch (source) {
        case 'environ': {
          const name = this.environName(pid, comm);
          if (name !== undefined) return name;
          break;
        }
        case 'container':
          if (inContainer && comm !== '') return comm;
          break;
        case 'exe':
          if (comm !== '') return comm;
          break;
        case 'agent':
          return this.opts.agentServiceName;
      }
    }
    return this.opts.agentServiceName;
  }

  /** Forgets a process (it exited or exec'd): its next event reads the environment again. */
  forget(pid: number): void {
    this.environCache.delete(pid);
  }

  private environName(pid: number, comm: string): string | undefined {
    if (!this.wantsEnviron || pid <= 0) return undefined;
    const known = this.environCache.get(pid);
    // The same pid with another comm: an exec (or a reused pid) since we looked.
    if (known !== undefined && known.comm === comm) {
      this.environCache.delete(pid);
      this.environCache.set(pid, known);
      return known.fromEnviron;
    }
    let fromEnviron: string | undefined;
    try {
      fromEnviron = serviceNameFromEnviron(readBounded(path.join(this.procRoot, String(pid), 'environ'), ENVIRON_MAX_BYTES));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.opts.onEnvironFailure?.(code === 'ENOENT' || code === 'ESRCH' ? 'process_gone' : 'environ_unreadable');
      // Not remembered when gone (nothing more to learn); remembered when refused (asking again is refused again).
      if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    }
    this.environCache.set(pid, { comm, fromEnviron });
    if (this.environCache.size > this.opts.maxEntries) {
      const oldest = this.environCache.keys().next().value;
      if (oldest !== undefined) this.environCache.delete(oldest);
    }
    return fromEnviron;
  }
}

/** Parses --service-name-from: a comma-separated list of sources. Throws with a message naming the bad one. */
export function parseServiceNameSources(value: string): ServiceNameSource[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new Error(`expected a comma-separated list of ${SERVICE_NAME_SOURCES.join(', ')}`);
  const out: ServiceNameSource[] = [];
  for (const p of parts) {
    if (!(SERVICE_NAME_SOURCES as readonly string[]).includes(p)) {
      throw new Error(`unknown source '${p}' (expected ${SERVICE_NAME_SOURCES.join(', ')})`);
    }
    if (!out.includes(p as ServiceNameSource)) out.push(p as ServiceNameSource);
  }
  return out;
}
