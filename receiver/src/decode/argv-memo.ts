/**
 * Long argv blocks decoded once while they repeat. An exec storm (a build step, a shell loop, a
 * probe run every second) runs one command line thousands of times; a long argv block seen in the
 * last ARGV_MEMO_TTL_MS is not decoded again and decodes to the very same array, so the
 * stages after can keep their own work on it by identity (CommandTracer's redacted argv, the jsonl
 * exporter's JSON of it).
 *
 * Why this shape:
 * - Keyed by a sampled hash and confirmed by comparing the bytes: a hash of every byte costs 1.3 µs
 *   on 4 KiB, a Map keyed by the decoded string 7 µs, this ~0.2 µs. A hash alone would let a local
 *   user craft an argv that is shown as another one (a collision): the bytes are always compared.
 *   Argv that differ only between the words read share a hash: the first kept holds the slot
 *   until it expires, the others are decoded plainly (a build's compiler lines, a loop's counter).
 * - Kept when its hash comes a second time: an argv that never repeats (a user who varies theirs)
 *   costs a hash and a Set lookup more than plain decoding, and leaves nothing behind.
 *   Kept on first sight, such blocks outlived the young generation and were promoted, and their
 *   garbage cost more than decoding itself (115 against ~80 ms per 1,000 execs under a varied storm).
 * - Kept ARGV_MEMO_TTL_MS after decoding, at most ARGV_MEMO_CAPACITY blocks: the raw argv, secrets
 *   included, stays in the agent's memory seconds, not until something pushes it out.
 */
import { ExpiringMap } from '../expiring-map';

/** Argv blocks at least this long are memoised; below it, decoding costs no more than the lookup. */
export const ARGV_MEMO_MIN_BYTES = 256;
/** Distinct long argv blocks kept: ~8 KiB each (the block and its strings), 2 MiB at most. */
export const ARGV_MEMO_CAPACITY = 256;
/** How long a block is kept after it was decoded (a block still repeating is decoded again then). */
export const ARGV_MEMO_TTL_MS = 2_000;

/** Hashes of blocks seen once that are remembered (numbers only); past it the set starts again. */
const SEEN_ONCE_CAPACITY = 4096;

/** argvBlockHash reads the first and the last EDGE_WORDS 4-byte words, and SPREAD_WORDS spread over the rest. */
const EDGE_WORDS = 16;
const SPREAD_WORDS = 32;

/**
 * A hash of the block's length, its first and last 64 bytes (the program and its first words, the
 * last words: where the command lines of a build or a loop differ) and 32 4-byte words spread over
 * the rest. Blocks that differ only between the words read share a hash: the byte comparison tells
 * them apart.
 */
export function argvBlockHash(block: Buffer): number {
  const n = block.length;
  let hash = Math.imul(n, 0x9e3779b1);
  if (n < 4 * (2 * EDGE_WORDS + SPREAD_WORDS)) {
    for (let i = 0; i < n; i++) hash = Math.imul(hash ^ (block[i] as number), 0x85ebca6b);
    return hash;
  }
  const mix = (word: number): void => {
    hash = Math.imul(hash ^ word, 0x85ebca6b);
    hash ^= hash >>> 13;
  };
  for (let k = 0; k < EDGE_WORDS; k++) mix(block.readInt32LE(4 * k));
  for (let k = 1; k <= EDGE_WORDS; k++) mix(block.readInt32LE(n - 4 * k));
  const from = 4 * EDGE_WORDS;
  const step = (n - 8 * EDGE_WORDS) / SPREAD_WORDS;
  for (let k = 0; k < SPREAD_WORDS; k++) mix(block.readInt32LE(from + ((step * k) | 0)));
  return hash;
}

interface Entry<T> {
  /** A copy: the record's buffer is not ours to keep. */
  readonly block: Buffer;
  readonly value: T;
}

export class ArgvBlockMemo<T> {
  /** The oldest first, for expiry and eviction (a hit does not move an entry). */
  private readonly entries: ExpiringMap<number, Entry<T>>;
  /** Hashes of long blocks decoded once and not kept: the next block with one of them is kept. */
  private readonly seenOnce = new Set<number>();
  /**
   * The hash of the kept block returned last. A storm repeats one argv exec after exec: that block
   * is compared first, without hashing (the hash reads the block's 4 KiB spread over 64 cache lines
   * the comparison reads anyway: ~0.5–1 µs per exec saved).
   */
  private lastHash: number | undefined;

  /** `keep` makes what is kept shareable (CommandTracer and the jsonl exporter go by shared arrays: shared-arrays.ts). */
  constructor(
    private readonly decode: (block: Buffer) => T,
    private readonly keep: (value: T) => T = (value) => value,
    now?: () => number,
  ) {
    this.entries = new ExpiringMap(ARGV_MEMO_CAPACITY, ARGV_MEMO_TTL_MS, now);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * decode(block); for a block of ARGV_MEMO_MIN_BYTES or more seen before, keep(decode(block)),
   * the same for ARGV_MEMO_TTL_MS.
   */
  get(block: Buffer): T {
    if (block.length < ARGV_MEMO_MIN_BYTES) return this.decode(block);
    if (this.lastHash !== undefined) {
      const last = this.entries.get(this.lastHash);
      if (last !== undefined && last.block.equals(block)) return last.value;
    }
    const hash = argvBlockHash(block);
    const held = this.entries.get(hash);
    if (held !== undefined) {
      if (held.block.equals(block)) {
        this.lastHash = hash;
        return held.value;
      }
      // Another block with this hash (near-identical argv, differing only between the words read):
      // the one kept stays until it expires, this one is decoded plainly.
      return this.decode(block);
    }
    if (!this.seenOnce.has(hash)) {
      if (this.seenOnce.size >= SEEN_ONCE_CAPACITY) this.seenOnce.clear();
      this.seenOnce.add(hash);
      return this.decode(block);
    }
    this.seenOnce.delete(hash);
    const value = this.keep(this.decode(block));
    this.entries.set(hash, { block: Buffer.from(block), value });
    this.lastHash = hash;
    return value;
  }
}
