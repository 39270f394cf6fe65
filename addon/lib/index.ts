// Typed wrapper over the native libbpf binding (addon/src, built by
// scripts/bootstrap.sh into addon/build/Release/ebpf_otel.node).
//
// Generic on purpose: nothing here knows about TCP, bash or any event layout.
// The split follows better-sqlite3: this file validates arguments, fills in
// defaults and words the errors; the C++ side receives checked values, calls
// libbpf and reports errno plus libbpf's own log lines.
//
//   const obj = BpfObject.open('build/bpf/exec.bpf.o');
//   obj.setGlobal('target_tgid', u32(1234));
//   obj.load();                       // BpfError with the verifier log on refusal
//   obj.attach('handle_exec');
//   obj.openRingBuffer('events', (batch, count) => { for (const r of splitBatch(batch)) ... });
//   ...
//   obj.close();                      // readers, links, then the object
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where bootstrap's node-gyp build puts the addon, seen from dist/addon/lib/. */
export const ADDON_PATH = path.resolve(__dirname, '../../../addon/build/Release/ebpf_otel.node');

/** bpf_map_update_elem flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

const DEFAULT_POLL_TIMEOUT_MS = 100;
const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const VERIFIER_TAIL_LINES = 20;

export class BpfError extends Error {
  /** Positive errno value, e.g. 2. */
  readonly errno: number;
  /** errno name, e.g. 'ENOENT'. */
  readonly code: string;
  /** The failing operation, e.g. 'open', 'load', 'attach_uprobe'. */
  readonly op: string;
  /** libbpf's messages printed during the operation; on load failure this holds the verifier log. */
  readonly libbpfLog: string;

  constructor(message: string, details: { errno: number; code: string; op: string; libbpfLog?: string }) {
    super(message);
    this.name = 'BpfError';
    this.errno = details.errno;
    this.code = details.code;
    this.op = details.op;
    this.libbpfLog = details.libbpfLog ?? '';
  }
}

export interface ProgramInfo {
  name: string;
  section: string;
  /** libbpf_bpf_prog_type_str(), e.g. 'tracepoint', 'kprobe' (uprobes are kprobe-type programs). */
  type: string;
  autoload: boolean;
}

export interface MapInfo {
  name: string;
  /** libbpf_bpf_map_type_str(), e.g. 'hash', 'percpu_array', 'ringbuf'. */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface BtfMember {
  name: string;
  /** Byte offset (for a bitfield: the byte holding its first bit). */
  offset: number;
  /** Bytes of the member's type (for a bitfield: of its storage type). */
  size: number;
  /** Exact bit offset from the start of the struct. */
  bitOffset: number;
  /** Bits of a bitfield; 0 for an ordinary member. */
  bitfieldSize: number;
}

export interface BtfStruct {
  name: string;
  size: number;
  members: BtfMember[];
}

export interface BpfLink {
  /** Detaches the program. Idempotent; also done by BpfObject.close(). */
  destroy(): void;
}

export interface BpfMap {
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly type: string;
  readonly isPerCpu: boolean;
  readonly possibleCpus: number;
  /** Per-CPU maps return possibleCpus * roundup(valueSize, 8) bytes, one slot per CPU. */
  lookup(key: Buffer): Buffer | null;
  /** Per-CPU maps: one slot per CPU, see lookupPerCpu(). */
  lookupPerCpu(key: Buffer): Buffer[] | null;
  update(key: Buffer, value: Buffer, flags?: number): void;
  /** False when the key was not there. */
  delete(key: Buffer): boolean;
  keys(): Buffer[];
  entries(): Array<[Buffer, Buffer]>;
}

export interface RingBufferStats {
  /** Batches delivered to onBatch. */
  batches: number;
  /** Records delivered to onBatch. */
  records: number;
  /** Record bytes delivered, without the 4-byte length prefixes. */
  bytes: number;
  /** Failed waits or reads of the ring (ring_buffer__poll/consume errors other than EINTR). */
  readErrors: number;
}

export interface RingBufferReader {
  /** Drains queued batches and the ring now, calling onBatch synchronously; returns records delivered. */
  consume(): number;
  /** Stops and joins the reader thread. Undelivered batches are dropped: call consume() first to keep them. Idempotent. */
  close(): void;
  /** Lets the process exit while the reader is open. */
  unref(): void;
  ref(): void;
  stats(): RingBufferStats;
}

export interface RingBufferOptions {
  /** How long the reader thread sleeps in one wait; bounds close() latency. Default 100. */
  pollTimeoutMs?: number;
  /** A batch is handed to JS once it reaches this many bytes (framing included). Default 256 KiB. */
  maxBatchBytes?: number;
  /**
   * Bytes of batches the reader thread queues while JS is busy (at least one batch); past them it
   * stops draining and the kernel ring fills, so a consumer that stays behind loses records in the
   * kernel (counted there) rather than growing memory. Default 8 MiB: enough for a burst JS catches
   * up with after it (two users exec'ing 4 KiB scripts from shell loops, ~3,000 execs/s for a second
   * on 2 CPUs, left the agent ~5 MB behind; 1 MiB lost 17-26 % of those exec events, 8 MiB none).
   * Memory is only taken while behind.
   */
  maxQueuedBytes?: number;
}

export interface UprobeOptions {
  /** Binary or library; a bare name ('libc.so.6') is searched like libbpf does. */
  binaryPath: string;
  /** Function symbol; with offset, the probe sits offset bytes into it. */
  symbol?: string;
  /** Without symbol: file offset of the instruction. Default 0. */
  offset?: number;
  retprobe: boolean;
  /** Only this process; default -1 = every process. */
  pid?: number;
}

export interface ClockPair {
  realtimeNs: bigint;
  monotonicNs: bigint;
}

/**
 * Walks a batch handed to onBatch. Framing: records back to back, each
 * [u32 little-endian length][bytes]; records are views into `data`, not
 * copies. Returns what is wrong with the framing, after delivering every
 * record before the break, or undefined when the batch is whole.
 */
function walkBatch(data: Buffer, onRecord: (record: Buffer) => void): string | undefined {
  let offset = 0;
  while (offset < data.length) {
    if (offset + 4 > data.length) {
      return `ring buffer batch is truncated: ${data.length - offset} stray bytes at offset ${offset}`;
    }
    const length = data.readUInt32LE(offset);
    const end = offset + 4 + length;
    if (end > data.length) {
      return `ring buffer batch is truncated: record at offset ${offset} claims ${length} bytes, ${data.length - offset - 4} left`;
    }
    onRecord(data.subarray(offset + 4, end));
    offset = end;
  }
  return undefined;
}

/** Calls `onRecord` for each record of a batch, in order, without allocating; false when the framing is broken. */
export function forEachRecord(data: Buffer, onRecord: (record: Buffer) => void): boolean {
  return walkBatch(data, onRecord) === undefined;
}

/** Splits a batch into its records; a RangeError when the framing is broken. */
export function splitBatch(data: Buffer): Buffer[] {
  const records: Buffer[] = [];
  const problem = walkBatch(data, (record) => records.push(record));
  if (problem !== undefined) throw new RangeError(problem);
  return records;
}

// ---- the native side's shape (addon/src) ----

type ErrorFactory = (op: string, errno: number, code: string, description: string, detail: string, libbpfLog: string) => BpfError;

interface NativeMapInfo extends MapInfo {
  isPerCpu: boolean;
}

interface NativeObjectHandle {
  programs(): ProgramInfo[];
  maps(): NativeMapInfo[];
  setAutoload(program: string, enabled: boolean): void;
  setGlobal(name: string, value: Buffer): void;
  setMapMaxEntries(map: string, maxEntries: number): void;
  shareMap(map: string, from: NativeObjectHandle, fromMap: string): void;
  btfStruct(name: string): BtfStruct;
  load(): void;
  attach(program: string): number;
  attachTracepoint(program: string, category: string, name: string): number;
  attachRawTracepoint(program: string, name: string): number;
  attachUprobe(program: string, binaryPath: string, symbol: string | null, offset: number, retprobe: boolean, pid: number): number;
  destroyLink(id: number): void;
  mapLookup(map: string, key: Buffer): Buffer | null;
  mapUpdate(map: string, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(map: string, key: Buffer): boolean;
  mapKeys(map: string): Buffer[];
  mapEntries(map: string): Array<[Buffer, Buffer]>;
  openRingBuffer(map: string, onBatch: (data: Buffer, count: number) => void, pollTimeoutMs: number, maxBatchBytes: number, maxQueuedBytes: number): number;
  readerConsume(id: number): number;
  readerClose(id: number): void;
  readerRef(id: number, ref: boolean): void;
  readerStats(id: number): RingBufferStats & { waitErrors: number };
  close(): void;
}

interface NativeBinding {
  NativeObject: new (path: string, btfCustomPath: string | undefined) => NativeObjectHandle;
  init(errorFactory: ErrorFactory): void;
  libbpfVersion(): string;
  setLibbpfDebug(enabled: boolean): void;
  possibleCpus(): number;
  clockPair(): ClockPair;
  dropPrivileges(keepMask: bigint): PrivilegeDropResult;
}

let loadedBinding: NativeBinding | undefined;

// Loaded on first use, so importing this module for its types or splitBatch()
// works on a machine where the addon is not built.
function native(): NativeBinding {
  if (loadedBinding !== undefined) return loadedBinding;
  if (!fs.existsSync(ADDON_PATH)) {
    throw new Error(`native addon not built: run scripts/bootstrap.sh (expected ${ADDON_PATH})`);
  }
  let binding: NativeBinding;
  try {
    binding = require(ADDON_PATH) as NativeBinding;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`native addon ${ADDON_PATH} failed to load: ${reason} (rebuild it with scripts/bootstrap.sh; it needs libbpf1 and libelf1)`, { cause });
  }
  binding.init(makeBpfError);
  loadedBinding = binding;
  return binding;
}

const OP_LABELS: Record<string, string> = {
  open: 'opening the BPF object',
  load: 'loading the BPF object',
  attach: 'attaching',
  attach_tracepoint: 'attaching a tracepoint',
  attach_raw_tracepoint: 'attaching a raw tracepoint',
  attach_uprobe: 'attaching a uprobe',
  set_global: 'setting a global',
  set_autoload: 'setting autoload',
  set_map_max_entries: 'setting max_entries',
  btf_struct: 'reading a BTF struct',
  map_lookup: 'map lookup',
  map_update: 'map update',
  map_delete: 'map delete',
  map_keys: 'listing map keys',
  map_entries: 'listing map entries',
  open_ring_buffer: 'opening a ring buffer reader',
  ring_buffer_new: 'opening a ring buffer reader',
  ring_buffer_consume: 'draining a ring buffer',
};

function tracefsMounted(): boolean {
  return fs.existsSync('/sys/kernel/tracing/events') || fs.existsSync('/sys/kernel/debug/tracing/events');
}

/** The verifier's own words: the text between libbpf's PROG LOAD LOG markers. */
function verifierLog(libbpfLog: string): { program: string; lines: string[] } | undefined {
  const match = /prog '([^']*)': -- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(libbpfLog);
  if (match === null) return undefined;
  return { program: match[1] ?? '', lines: (match[2] ?? '').split('\n').filter((line) => line.length > 0) };
}

function hintFor(op: string, code: string, libbpfLog: string): string | undefined {
  if (code === 'EPERM') {
    return process.getuid?.() === 0
      ? 'the kernel refused this BPF operation to root: check lockdown mode and kernel.unprivileged_bpf_disabled'
      : 'BPF needs root, or CAP_BPF + CAP_PERFMON (CAP_SYS_ADMIN on older kernels)';
  }
  if (op === 'attach' && code === 'ENOENT' && !tracefsMounted()) {
    return 'tracepoint attachment reads ids from tracefs, which is not mounted: mount -t tracefs tracefs /sys/kernel/tracing';
  }
  if (op === 'attach_tracepoint' && code === 'ENOENT') {
    return tracefsMounted()
      ? 'no such tracepoint: the names are the directories under /sys/kernel/tracing/events/'
      : 'tracefs is not mounted: mount -t tracefs tracefs /sys/kernel/tracing';
  }
  if (op === 'attach_uprobe' && code === 'ENOENT') {
    return /failed to find symbol/.test(libbpfLog)
      ? 'the binary has no such function symbol (check with: nm -D <binary>, or nm <binary> if it is not stripped)'
      : 'the binary does not exist or cannot be read';
  }
  if (op === 'attach' && code === 'EOPNOTSUPP') {
    return 'this SEC() name carries no attach target (e.g. a bare "uprobe"): use attachUprobe(), attachTracepoint() or attachRawTracepoint()';
  }
  if (op === 'open' && code === 'ENOENT') return 'build the BPF objects with: make -C bpf (scripts/bootstrap.sh does it)';
  if (op === 'load' && code === 'EAGAIN') {
    return 'something kept signalling this process while the kernel checked the programs (a profiler such as node --cpu-prof, a debugger): start it again without that';
  }
  return undefined;
}

function makeBpfError(op: string, errno: number, code: string, description: string, detail: string, libbpfLog: string): BpfError {
  const label = OP_LABELS[op] ?? op;
  let message = `${label} failed: ${detail}: ${description} (${code})`;
  const verifier = op === 'load' ? verifierLog(libbpfLog) : undefined;
  if (verifier !== undefined) {
    const tail = verifier.lines.slice(-VERIFIER_TAIL_LINES);
    // The verifier gives up with EAGAIN when a signal is pending for the loading thread (libbpf tries 5 times): not a rejection.
    const what = code === 'EAGAIN' ? `the verifier was interrupted by a signal while checking program '${verifier.program}'` : `the verifier rejected program '${verifier.program}'`;
    message += `\n${what}; last ${tail.length} lines of its log (all of it in .libbpfLog):\n  ${tail.join('\n  ')}`;
  } else {
    // Short libbpf output (one or two lines) usually names the real cause.
    const lines = libbpfLog.split('\n').filter((line) => line.length > 0);
    if (lines.length > 0 && lines.length <= 3) message += `\n  ${lines.join('\n  ')}`;
  }
  const hint = hintFor(op, code, libbpfLog);
  if (hint !== undefined) message += `\nhint: ${hint}`;
  return new BpfError(message, { errno, code, op, libbpfLog });
}

/** A BpfError raised by this wrapper itself (state and name checks); `op` uses the native snake_case names. */
function bpfError(method: string, errno: number, code: string, message: string): BpfError {
  const op = method === 'consume' ? 'ring_buffer_consume' : method.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  return new BpfError(`${method}: ${message}`, { errno, code, op });
}

function requireString(method: string, what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${method}: ${what} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function requireBuffer(method: string, what: string, value: unknown): Buffer {
  if (!Buffer.isBuffer(value)) throw new TypeError(`${method}: ${what} must be a Buffer, got ${describe(value)}`);
  return value;
}

function requireInteger(method: string, what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${method}: ${what} must be an integer in [${min}, ${max}], got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return value === null ? 'null' : typeof value;
}

export class BpfObject {
  readonly path: string;
  readonly #native: NativeObjectHandle;
  #closed = false;
  #loaded = false;
  readonly #programs: ProgramInfo[];
  readonly #maps: NativeMapInfo[];
  readonly #readers = new Set<NativeRingBufferReader>();

  private constructor(objectPath: string, handle: NativeObjectHandle) {
    this.path = objectPath;
    this.#native = handle;
    this.#programs = handle.programs();
    this.#maps = handle.maps();
  }

  /** Opens (parses) a BPF ELF object; nothing reaches the kernel until load(). */
  static open(objectPath: string, opts: { btfCustomPath?: string } = {}): BpfObject {
    requireString('BpfObject.open', 'path', objectPath);
    if (opts.btfCustomPath !== undefined) requireString('BpfObject.open', 'btfCustomPath', opts.btfCustomPath);
    const binding = native();
    return new BpfObject(objectPath, new binding.NativeObject(objectPath, opts.btfCustomPath));
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  get closed(): boolean {
    return this.#closed;
  }

  programs(): ProgramInfo[] {
    return this.#handle('programs').programs();
  }

  maps(): MapInfo[] {
    return this.#handle('maps').maps().map(({ name, type, keySize, valueSize, maxEntries }) => ({ name, type, keySize, valueSize, maxEntries }));
  }

  /** Before load(): whether load() includes this program (SEC("?...") programs start disabled). */
  setAutoload(program: string, enabled: boolean): void {
    const handle = this.#beforeLoad('setAutoload');
    this.#requireProgram('setAutoload', program);
    if (typeof enabled !== 'boolean') throw new TypeError(`setAutoload: enabled must be true or false, got ${describe(enabled)}`);
    handle.setAutoload(program, enabled);
  }

  /**
   * Before load(): sets a global variable (`const volatile` in .rodata, or
   * .data/.bss) by name. `value` must have the variable's exact size, in the
   * kernel's byte order.
   */
  setGlobal(name: string, value: Buffer): void {
    const handle = this.#beforeLoad('setGlobal');
    requireString('setGlobal', 'name', name);
    requireBuffer('setGlobal', 'value', value);
    handle.setGlobal(name, value);
  }

  /** Before load(): resizes a map (for a ring buffer: bytes, a power of two multiple of the page size). */
  setMapMaxEntries(map: string, maxEntries: number): void {
    const handle = this.#beforeLoad('setMapMaxEntries');
    this.#requireMap('setMapMaxEntries', map);
    requireInteger('setMapMaxEntries', 'maxEntries', maxEntries, 1, 0xffffffff);
    handle.setMapMaxEntries(map, maxEntries);
  }

  /**
   * Before load: `map` becomes the kernel map `fromMap` of another, already
   * loaded object, so programs of both objects read and write the same map.
   * The map takes the other's definition (libbpf's bpf_map__reuse_fd): give it
   * the same key and value types in both programs. Each object keeps its own
   * reference: closing either leaves the map to the other.
   */
  shareMap(map: string, from: BpfObject, fromMap: string = map): void {
    const handle = this.#beforeLoad('shareMap');
    this.#requireMap('shareMap', map);
    requireString('shareMap', 'fromMap', fromMap);
    const source = from.#afterLoad('shareMap');
    from.#requireMap('shareMap', fromMap);
    handle.shareMap(map, source, fromMap);
  }

  /** A struct's layout from the object's own BTF (what the compiler really did). */
  btfStruct(name: string): BtfStruct {
    requireString('btfStruct', 'name', name);
    return this.#handle('btfStruct').btfStruct(name);
  }

  /** Loads maps and programs into the kernel. On refusal the BpfError carries the verifier log. */
  load(): void {
    const handle = this.#handle('load');
    if (this.#loaded) throw bpfError('load', 16, 'EBUSY', 'the object is already loaded');
    handle.load();
    this.#loaded = true;
  }

  /** Attaches by the program's SEC() name (e.g. "tracepoint/sched/sched_process_exec"). */
  attach(program: string): BpfLink {
    const handle = this.#afterLoad('attach');
    this.#requireProgram('attach', program);
    return this.#link(handle.attach(program));
  }

  attachTracepoint(program: string, category: string, name: string): BpfLink {
    const handle = this.#afterLoad('attachTracepoint');
    this.#requireProgram('attachTracepoint', program);
    requireString('attachTracepoint', 'category', category);
    requireString('attachTracepoint', 'name', name);
    return this.#link(handle.attachTracepoint(program, category, name));
  }

  attachRawTracepoint(program: string, name: string): BpfLink {
    const handle = this.#afterLoad('attachRawTracepoint');
    this.#requireProgram('attachRawTracepoint', program);
    requireString('attachRawTracepoint', 'name', name);
    return this.#link(handle.attachRawTracepoint(program, name));
  }

  attachUprobe(program: string, opts: UprobeOptions): BpfLink {
    const handle = this.#afterLoad('attachUprobe');
    this.#requireProgram('attachUprobe', program);
    if (typeof opts !== 'object' || opts === null) throw new TypeError('attachUprobe: options { binaryPath, symbol?, offset?, retprobe, pid? } are required');
    requireString('attachUprobe', 'binaryPath', opts.binaryPath);
    if (opts.symbol !== undefined) requireString('attachUprobe', 'symbol', opts.symbol);
    const offset = opts.offset === undefined ? 0 : requireInteger('attachUprobe', 'offset', opts.offset, 0, Number.MAX_SAFE_INTEGER);
    if (opts.symbol === undefined && offset === 0) {
      throw new TypeError('attachUprobe: give a symbol (function name) or a non-zero file offset');
    }
    if (typeof opts.retprobe !== 'boolean') throw new TypeError(`attachUprobe: retprobe must be true or false, got ${describe(opts.retprobe)}`);
    const pid = opts.pid === undefined ? -1 : requireInteger('attachUprobe', 'pid', opts.pid, -1, 0x7fffffff);
    return this.#link(handle.attachUprobe(program, opts.binaryPath, opts.symbol ?? null, offset, opts.retprobe, pid));
  }

  /** A loaded map by name (as listed by maps(); internal maps also answer to '.rodata', '.bss', ...). */
  map(name: string): BpfMap {
    const handle = this.#afterLoad('map');
    const info = this.#requireMap('map', name);
    return new NativeBpfMap(handle, name, info, native().possibleCpus());
  }

  /**
   * Starts a native thread reading a BPF_MAP_TYPE_RINGBUF map. onBatch gets
   * whole batches (see splitBatch()), one call per batch. An exception thrown
   * from onBatch is an uncaught exception, or inside consume() is thrown by
   * consume(). The reader keeps the process alive until closed or unref()'d.
   */
  openRingBuffer(mapName: string, onBatch: (data: Buffer, count: number) => void, opts: RingBufferOptions = {}): RingBufferReader {
    const handle = this.#afterLoad('openRingBuffer');
    const info = this.#requireMap('openRingBuffer', mapName);
    if (info.type !== 'ringbuf') {
      throw bpfError('openRingBuffer', 22, 'EINVAL', `map '${mapName}' is a ${info.type} map, not a ringbuf`);
    }
    if (typeof onBatch !== 'function') throw new TypeError('openRingBuffer: onBatch must be a function (data: Buffer, count: number) => void');
    const pollTimeoutMs = requireInteger('openRingBuffer', 'pollTimeoutMs', opts.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS, 1, 60_000);
    const maxBatchBytes = requireInteger('openRingBuffer', 'maxBatchBytes', opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES, 64, 64 * 1024 * 1024);
    const maxQueuedBytes = requireInteger('openRingBuffer', 'maxQueuedBytes', opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES, 1, 1024 * 1024 * 1024);
    // Node-API swallows exceptions thrown into a thread-safe function's call
    // (only a deprecation warning), so the wrapper decides: inside consume()
    // the error propagates to its caller, otherwise it becomes an ordinary
    // uncaught exception.
    let reader: NativeRingBufferReader | undefined;
    const deliver = (data: Buffer, count: number): void => {
      try {
        onBatch(data, count);
      } catch (error) {
        if (reader?.consuming === true) throw error;
        process.nextTick(() => { throw error; });
      }
    };
    const id = handle.openRingBuffer(mapName, deliver, pollTimeoutMs, maxBatchBytes, maxQueuedBytes);
    reader = new NativeRingBufferReader(handle, id);
    this.#readers.add(reader);
    return reader;
  }

  /** Closes readers (joining their threads), detaches links, frees the object. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of this.#readers) reader.markClosed();
    this.#native.close();
  }

  #handle(method: string): NativeObjectHandle {
    if (this.#closed) throw bpfError(method, 9, 'EBADF', `the BpfObject for ${this.path} is closed (close() was called); open it again`);
    return this.#native;
  }

  #beforeLoad(method: string): NativeObjectHandle {
    const handle = this.#handle(method);
    if (this.#loaded) throw bpfError(method, 16, 'EBUSY', 'only possible before load()');
    return handle;
  }

  #afterLoad(method: string): NativeObjectHandle {
    const handle = this.#handle(method);
    if (!this.#loaded) throw bpfError(method, 22, 'EINVAL', 'call load() first');
    return handle;
  }

  #requireProgram(method: string, program: string): ProgramInfo {
    requireString(method, 'program', program);
    const info = this.#programs.find((candidate) => candidate.name === program);
    if (info === undefined) {
      const names = this.#programs.map((candidate) => candidate.name).join(', ');
      throw bpfError(method, 2, 'ENOENT', `no program '${program}' in ${this.path} (programs: ${names || 'none'})`);
    }
    return info;
  }

  #requireMap(method: string, map: string): NativeMapInfo {
    requireString(method, 'map', map);
    const info = this.#maps.find((candidate) => candidate.name === map)
      // libbpf names internal maps '<obj prefix>.rodata'; '.rodata' finds them too.
      ?? (map.startsWith('.') ? this.#maps.find((candidate) => candidate.name.endsWith(map)) : undefined);
    if (info === undefined) {
      const names = this.#maps.map((candidate) => candidate.name).join(', ');
      throw bpfError(method, 2, 'ENOENT', `no map '${map}' in ${this.path} (maps: ${names || 'none'})`);
    }
    return info;
  }

  #link(id: number): BpfLink {
    const handle = this.#native;
    let destroyed = false;
    return {
      destroy: () => {
        if (destroyed) return;
        destroyed = true;
        handle.destroyLink(id);
      },
    };
  }
}

class NativeBpfMap implements BpfMap {
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly type: string;
  readonly isPerCpu: boolean;
  readonly possibleCpus: number;
  readonly #handle: NativeObjectHandle;
  readonly #lookupSize: number;

  constructor(handle: NativeObjectHandle, name: string, info: NativeMapInfo, possibleCpus: number) {
    this.#handle = handle;
    this.name = name;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.type = info.type;
    this.isPerCpu = info.isPerCpu;
    this.possibleCpus = possibleCpus;
    this.#lookupSize = info.isPerCpu ? possibleCpus * Math.ceil(info.valueSize / 8) * 8 : info.valueSize;
  }

  lookup(key: Buffer): Buffer | null {
    return this.#handle.mapLookup(this.name, this.#key('lookup', key));
  }

  lookupPerCpu(key: Buffer): Buffer[] | null {
    if (!this.isPerCpu) throw new TypeError(`BpfMap.lookupPerCpu: map '${this.name}' is a ${this.type} map, not a per-CPU map`);
    const value = this.lookup(key);
    if (value === null) return null;
    const slot = Math.ceil(this.valueSize / 8) * 8;
    const values: Buffer[] = [];
    for (let cpu = 0; cpu < this.possibleCpus; cpu++) values.push(value.subarray(cpu * slot, cpu * slot + this.valueSize));
    return values;
  }

  update(key: Buffer, value: Buffer, flags: number = BPF_ANY): void {
    requireBuffer('BpfMap.update', 'value', value);
    if (value.length !== this.#lookupSize) {
      const expected = this.isPerCpu ? `${this.possibleCpus} CPUs x ${Math.ceil(this.valueSize / 8) * 8} bytes = ${this.#lookupSize}` : `${this.#lookupSize}`;
      throw new RangeError(`BpfMap.update: map '${this.name}' takes ${expected}-byte values, got ${value.length}`);
    }
    requireInteger('BpfMap.update', 'flags', flags, 0, 0xffffffff);
    this.#handle.mapUpdate(this.name, this.#key('update', key), value, flags);
  }

  delete(key: Buffer): boolean {
    return this.#handle.mapDelete(this.name, this.#key('delete', key));
  }

  keys(): Buffer[] {
    return this.#handle.mapKeys(this.name);
  }

  entries(): Array<[Buffer, Buffer]> {
    return this.#handle.mapEntries(this.name);
  }

  #key(method: string, key: Buffer): Buffer {
    requireBuffer(`BpfMap.${method}`, 'key', key);
    if (key.length !== this.keySize) {
      throw new RangeError(`BpfMap.${method}: map '${this.name}' takes ${this.keySize}-byte keys, got ${key.length}`);
    }
    return key;
  }
}

class NativeRingBufferReader implements RingBufferReader {
  readonly #handle: NativeObjectHandle;
  readonly #id: number;
  #closed = false;
  #finalStats: RingBufferStats | undefined;

  constructor(handle: NativeObjectHandle, id: number) {
    this.#handle = handle;
    this.#id = id;
  }

  /** True while consume() is delivering: onBatch exceptions then go to consume()'s caller. */
  consuming = false;

  consume(): number {
    if (this.#closed) throw bpfError('consume', 9, 'EBADF', 'the ring buffer reader is closed');
    this.consuming = true;
    try {
      return this.#handle.readerConsume(this.#id);
    } finally {
      this.consuming = false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#handle.readerClose(this.#id);
    this.markClosed();
  }

  unref(): void {
    if (!this.#closed) this.#handle.readerRef(this.#id, false);
  }

  ref(): void {
    if (!this.#closed) this.#handle.readerRef(this.#id, true);
  }

  stats(): RingBufferStats {
    if (this.#finalStats !== undefined) return { ...this.#finalStats };
    const { batches, records, bytes, waitErrors } = this.#handle.readerStats(this.#id);
    return { batches, records, bytes, readErrors: waitErrors };
  }

  /** Called by BpfObject.close() before the native side closes the reader. */
  markClosed(): void {
    if (this.#finalStats === undefined) this.#finalStats = this.stats();
    this.#closed = true;
  }
}

/** CLOCK_REALTIME paired with the CLOCK_MONOTONIC midpoint around it (tightest of 5 tries). */
export function clockPair(): ClockPair {
  return native().clockPair();
}

export interface PrivilegeDropResult {
  /** Threads in the process when the drop ran. */
  threads: number;
  /** Threads that applied it (the caller's included). */
  answered: number;
  /** Threads where a prctl/capset call failed. */
  failed: number;
  /** The calling thread's errno (0: done). */
  errno: number;
}

/**
 * Sets no_new_privs and reduces the capabilities of every thread of the
 * process to `keep` (capability numbers): effective and permitted, with
 * inheritable and ambient cleared and the bounding set reduced when
 * CAP_SETPCAP allows. Irreversible.
 */
export function dropPrivileges(keep: readonly number[] = []): PrivilegeDropResult {
  let mask = 0n;
  for (const cap of keep) {
    if (!Number.isInteger(cap) || cap < 0 || cap > 63) throw new RangeError(`capability ${cap}: expected 0..63`);
    mask |= 1n << BigInt(cap);
  }
  return native().dropPrivileges(mask);
}

/** libbpf's version string, e.g. 'v1.1'. */
export function libbpfVersion(): string {
  return native().libbpfVersion();
}

/** libbpf debug messages to stderr (they are otherwise not even produced). */
export function setLibbpfDebug(enabled: boolean): void {
  native().setLibbpfDebug(enabled === true);
}

/** Number of possible CPUs, the slot count of per-CPU map values. */
export function possibleCpus(): number {
  return native().possibleCpus();
}
