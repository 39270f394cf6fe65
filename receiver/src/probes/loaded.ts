/**
 * The BPF objects of one probe once loaded and attached. Every object has a
 * ring buffer `events` and a per-CPU counter array `stats` (bpf/agent.bpf.h).
 * This owns their readers, links and objects: close() releases them in
 * reverse order, once, and keeps the last counters so the agent can still
 * report them after the objects are gone.
 */
import path from 'node:path';
import { BpfObject, forEachRecord, type BpfLink, type RingBufferReader } from '../../../addon/lib/index';
import { readPerCpuCounters } from './common';

/** How often the readers drain the ring buffers when no wake-up came. */
export const RING_POLL_MS = 50;

export interface AttachedObject {
  readonly object: BpfObject;
  readonly links: BpfLink[];
}

/** Opens build/bpf/<name>.bpf.o, runs `setup` (settings, load, attach) and closes the object if it throws. */
export function openAndAttach(bpfDir: string, name: string, btfPath: string | undefined, setup: (object: BpfObject) => BpfLink[]): AttachedObject {
  const object = BpfObject.open(path.join(bpfDir, `${name}.bpf.o`), btfPath ? { btfCustomPath: btfPath } : {});
  try {
    return { object, links: setup(object) };
  } catch (err) {
    object.close();
    throw err;
  }
}

export class LoadedObjects {
  private readonly readers: RingBufferReader[] = [];
  private closedFlag = false;
  private lastStats: bigint[];

  constructor(
    readonly parts: readonly AttachedObject[],
    private readonly statsCount: number,
  ) {
    this.lastStats = new Array<bigint>(statsCount).fill(0n);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Starts delivering raw records of every object; `onFramingError` when a batch cannot be split. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    for (const { object } of this.parts) {
      this.readers.push(
        object.openRingBuffer(
          'events',
          (batch) => {
            if (!forEachRecord(batch, onRecord)) onFramingError();
          },
          // The programs wake us only once 64 KiB wait (bpf/agent.bpf.h): this bounds the delay otherwise.
          { pollTimeoutMs: RING_POLL_MS },
        ),
      );
    }
  }

  /** Failed ring buffer reads (the reader threads' own errors), summed over objects. */
  readErrors(): number {
    let n = 0;
    for (const reader of this.readers) {
      try {
        n += reader.stats().readErrors;
      } catch {
        // a closed reader keeps its last stats; nothing else can fail here
      }
    }
    return n;
  }

  /** Delivers what is in the ring buffers now (at shutdown). */
  drain(): void {
    for (const reader of this.readers) reader.consume();
  }

  /**
   * The `stats` counters summed over CPUs and objects. Once closed, or if a
   * map cannot be read, the last values read: never an exception, since the
   * agent reports these from metric callbacks and at exit.
   */
  stats(): bigint[] {
    if (this.closedFlag) return this.lastStats;
    try {
      const totals = new Array<bigint>(this.statsCount).fill(0n);
      for (const { object } of this.parts) {
        readPerCpuCounters(object.map('stats'), this.statsCount).forEach((v, i) => {
          totals[i] = (totals[i] as bigint) + v;
        });
      }
      this.lastStats = totals;
    } catch {
      // keep the previous values
    }
    return this.lastStats;
  }

  close(): void {
    if (this.closedFlag) return;
    this.stats();
    this.closedFlag = true;
    for (const reader of this.readers) reader.close();
    for (const { object, links } of [...this.parts].reverse()) {
      for (const link of [...links].reverse()) link.destroy();
      object.close();
    }
  }
}

/**
 * What every probe does with its loaded objects: start the ring buffer
 * readers, count their read errors, drain at shutdown, close. The probes add
 * their own maps and counters.
 */
export abstract class LoadedProbe {
  protected constructor(protected readonly loaded: LoadedObjects) {}

  /** Starts delivering raw event records; `onFramingError` is called when a batch cannot be split. */
  start(onRecord: (record: Buffer) => void, onFramingError: () => void): void {
    this.loaded.start(onRecord, onFramingError);
  }

  /** Failed ring buffer reads: records that may have been lost in the reader. */
  readErrors(): number {
    return this.loaded.readErrors();
  }

  /** Drains what is in the ring buffer now (at shutdown). */
  drain(): void {
    this.loaded.drain();
  }

  close(): void {
    this.loaded.close();
  }
}
