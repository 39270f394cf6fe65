/**
 * Puts events from several ring buffers back in kernel time order.
 *
 * Each probe has its own ring buffer, delivered in its own batches, so an
 * exec can reach us after the connect it made, or a prompt after the exit
 * that preceded it. Events wait here for `windowNs` of CLOCK_MONOTONIC
 * (the clock bpf_ktime_get_ns uses) and are then handled in timestamp order.
 * An event older than what was already released (it arrived later than the
 * window) is handled at once and counted as late.
 *
 * What waits is kept off the JavaScript heap: a ring buffer record is copied,
 * as bytes, into pooled chunks, and its time and place into typed arrays; it
 * is decoded only when released. At 40,000 connects/s the window holds
 * ~10,000 events. Held as decoded objects and closures they outlived two
 * scavenges and were promoted, ~1.5 KB each: old space grew by ~50 MB between
 * mark-compacts, most of the agent's peak RSS under a connect storm.
 * Closures (push) are still accepted for the few events that are not records.
 */

/** Records are copied into chunks of this size (larger records get a chunk of their own). */
const CHUNK_BYTES = 64 * 1024;
/** Free chunks kept for reuse after a burst; the rest are left to the GC. */
const MAX_FREE_CHUNKS = 16;

/** Handles a released record; the Buffer is only valid during the call (its bytes are reused). */
export type RecordHandler = (record: Buffer) => void;

export class ReorderBuffer {
  // Pending entries, in arrival order (so equal times keep arrival order): the kernel time as two
  // 32-bit halves, and either a closure (length -1) or a handler with the record's place in a chunk.
  private count = 0;
  private timeHigh = new Uint32Array(1024);
  private timeLow = new Uint32Array(1024);
  private chunkOf = new Uint32Array(1024);
  private offsetOf = new Uint32Array(1024);
  private lengthOf = new Int32Array(1024);
  private handlers: Array<RecordHandler | (() => void) | undefined> = [];
  /** Indices of the entries being released, sorted by time. */
  private ready = new Uint32Array(1024);

  private readonly chunks: Array<Buffer | undefined> = [];
  /** Records still pending or running in each chunk. */
  private readonly chunkLive: number[] = [];
  private readonly freeChunks: number[] = [];
  private currentChunk = -1;
  private currentUsed = 0;

  private releasedHigh = 0;
  private releasedLow = 0;
  private timer: NodeJS.Timeout | undefined;
  late = 0;

  constructor(
    private readonly windowNs: bigint,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => bigint = () => process.hrtime.bigint(),
    tickMs = 25,
  ) {
    if (tickMs > 0) this.timer = setInterval(() => this.release(this.now() - this.windowNs), tickMs).unref();
  }

  /** Number of events waiting. */
  get pending(): number {
    return this.count;
  }

  push(ts: bigint, run: () => void): void {
    const high = Number(BigInt.asUintN(64, ts) >> 32n);
    const low = Number(BigInt.asUintN(32, ts));
    if (this.isReleased(high, low)) {
      this.late++;
      this.safeRun(run);
      return;
    }
    const i = this.append(high, low);
    this.handlers[i] = run;
    this.lengthOf[i] = -1;
  }

  /**
   * Queues a ring buffer record whose kernel time (u64, little-endian) is at `timeOffset`; `handle`
   * gets a copy of it when it is released (at once, uncopied, when it is late). The caller checks
   * that the record is long enough to hold the time.
   */
  pushRecord(record: Buffer, timeOffset: number, handle: RecordHandler): void {
    const low = record.readUInt32LE(timeOffset);
    const high = record.readUInt32LE(timeOffset + 4);
    if (this.isReleased(high, low)) {
      this.late++;
      this.safeHandle(handle, record);
      return;
    }
    const length = record.length;
    if (this.currentChunk < 0 || this.currentUsed + length > (this.chunks[this.currentChunk] as Buffer).length) this.nextChunk(length);
    const chunk = this.currentChunk;
    const offset = this.currentUsed;
    record.copy(this.chunks[chunk] as Buffer, offset);
    this.currentUsed += length;
    this.chunkLive[chunk] = (this.chunkLive[chunk] ?? 0) + 1;
    const i = this.append(high, low);
    this.handlers[i] = handle;
    this.chunkOf[i] = chunk;
    this.offsetOf[i] = offset;
    this.lengthOf[i] = length;
  }

  /** Runs every pending event with ts <= upTo, oldest first. */
  release(upTo: bigint): void {
    const clamped = upTo < 0n ? 0n : BigInt.asUintN(64, upTo) === upTo ? upTo : (1n << 64n) - 1n;
    const upHigh = Number(clamped >> 32n);
    const upLow = Number(BigInt.asUintN(32, clamped));
    const n = this.count;
    let readyCount = 0;
    for (let i = 0; i < n; i++) {
      const high = this.timeHigh[i] as number;
      if (high < upHigh || (high === upHigh && (this.timeLow[i] as number) <= upLow)) this.ready[readyCount++] = i;
    }
    if (upHigh > this.releasedHigh || (upHigh === this.releasedHigh && upLow > this.releasedLow)) {
      this.releasedHigh = upHigh;
      this.releasedLow = upLow;
    }
    if (readyCount === 0) return;

    const order = this.ready.subarray(0, readyCount);
    if (!this.inTimeOrder(order)) {
      const { timeHigh, timeLow } = this;
      order.sort((a, b) => (timeHigh[a] as number) - (timeHigh[b] as number) || (timeLow[a] as number) - (timeLow[b] as number) || a - b);
    }
    // Take the ready entries out before running any (a handler may push more), then run them.
    const handlers = new Array<RecordHandler | (() => void) | undefined>(readyCount);
    const chunks = new Uint32Array(readyCount);
    const offsets = new Uint32Array(readyCount);
    const lengths = new Int32Array(readyCount);
    for (let j = 0; j < readyCount; j++) {
      const i = order[j] as number;
      handlers[j] = this.handlers[i];
      chunks[j] = this.chunkOf[i] as number;
      offsets[j] = this.offsetOf[i] as number;
      lengths[j] = this.lengthOf[i] as number;
      this.lengthOf[i] = -2; // taken
    }
    this.compact();
    for (let j = 0; j < readyCount; j++) {
      const handler = handlers[j] as RecordHandler;
      const length = lengths[j] as number;
      if (length < 0) {
        this.safeRun(handler as () => void);
        continue;
      }
      const chunk = chunks[j] as number;
      const offset = offsets[j] as number;
      const record = (this.chunks[chunk] as Buffer).subarray(offset, offset + length);
      this.safeHandle(handler, record);
      this.releaseChunk(chunk);
    }
  }

  /** Runs everything now (shutdown). */
  flush(): void {
    this.release((1n << 64n) - 1n);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.flush();
  }

  private isReleased(high: number, low: number): boolean {
    return high < this.releasedHigh || (high === this.releasedHigh && low <= this.releasedLow);
  }

  private inTimeOrder(order: Uint32Array): boolean {
    for (let j = 1; j < order.length; j++) {
      const a = order[j - 1] as number;
      const b = order[j] as number;
      const ha = this.timeHigh[a] as number;
      const hb = this.timeHigh[b] as number;
      if (ha > hb || (ha === hb && (this.timeLow[a] as number) > (this.timeLow[b] as number))) return false;
    }
    return true;
  }

  /** Appends an entry's time; returns its index. */
  private append(high: number, low: number): number {
    if (this.count === this.timeHigh.length) this.grow();
    const i = this.count++;
    this.timeHigh[i] = high;
    this.timeLow[i] = low;
    return i;
  }

  private grow(): void {
    const size = this.timeHigh.length * 2;
    const grown = <T extends Uint32Array | Int32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.timeHigh = grown(this.timeHigh, new Uint32Array(size));
    this.timeLow = grown(this.timeLow, new Uint32Array(size));
    this.chunkOf = grown(this.chunkOf, new Uint32Array(size));
    this.offsetOf = grown(this.offsetOf, new Uint32Array(size));
    this.lengthOf = grown(this.lengthOf, new Int32Array(size));
    this.ready = new Uint32Array(size);
  }

  /** Removes the taken entries, keeping the others in arrival order. */
  private compact(): void {
    let w = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.lengthOf[i] === -2) continue;
      if (w !== i) {
        this.timeHigh[w] = this.timeHigh[i] as number;
        this.timeLow[w] = this.timeLow[i] as number;
        this.chunkOf[w] = this.chunkOf[i] as number;
        this.offsetOf[w] = this.offsetOf[i] as number;
        this.lengthOf[w] = this.lengthOf[i] as number;
        this.handlers[w] = this.handlers[i];
      }
      w++;
    }
    for (let i = w; i < this.count; i++) this.handlers[i] = undefined;
    this.count = w;
  }

  /** Starts a new chunk able to hold `length` bytes: a free one, or a new one. */
  private nextChunk(length: number): void {
    const previous = this.currentChunk;
    this.currentChunk = -1;
    if (previous >= 0 && this.chunkLive[previous] === 0) this.recycle(previous);
    let id: number | undefined;
    if (length <= CHUNK_BYTES) id = this.freeChunks.pop();
    if (id === undefined) {
      id = this.chunks.indexOf(undefined);
      if (id < 0) id = this.chunks.length;
      this.chunks[id] = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, length));
    }
    this.chunkLive[id] = 0;
    this.currentChunk = id;
    this.currentUsed = 0;
  }

  private releaseChunk(chunk: number): void {
    const live = (this.chunkLive[chunk] as number) - 1;
    this.chunkLive[chunk] = live;
    if (live === 0 && chunk !== this.currentChunk) this.recycle(chunk);
  }

  private recycle(chunk: number): void {
    if ((this.chunks[chunk] as Buffer).length === CHUNK_BYTES && this.freeChunks.length < MAX_FREE_CHUNKS) {
      this.freeChunks.push(chunk);
    } else {
      this.chunks[chunk] = undefined;
    }
  }

  private safeHandle(handle: RecordHandler, record: Buffer): void {
    try {
      handle(record);
    } catch (err) {
      this.onError(err);
    }
  }

  private safeRun(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.onError(err);
    }
  }
}
