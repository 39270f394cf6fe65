import { performance } from 'node:perf_hooks';

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

/**
 * A Map whose entries expire `ttlMs` after they were set, holding at most `capacity` (the entry set
 * longest ago goes first). For what the agent keeps of raw argv, secrets included: an unref'd timer
 * drops expired entries even when nothing else comes, so they stay seconds in its memory, not until
 * something pushes them out. Insertion order is expiry order (a Map iterates that way), so every
 * operation is O(1) amortised.
 */
export class ExpiringMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly capacity: number,
    readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(capacity >= 1) || !(ttlMs > 0)) throw new RangeError(`ExpiringMap(${capacity}, ${ttlMs}): expected a capacity of at least 1 and a positive TTL`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value set less than ttlMs ago (a lookup does not extend it). */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Sets the value, newest of all, until ttlMs from now. */
  set(key: K, value: V): void {
    const now = this.now();
    this.entries.delete(key);
    this.expire(now);
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.set(key, { value, expiresAt: now + this.ttlMs });
    this.timer ??= setTimeout(this.onTimer, this.ttlMs).unref();
  }

  /** Drops the entries set ttlMs or more before `now`. */
  expire(now: number = this.now()): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const now = this.now();
    this.expire(now);
    const oldest = this.entries.values().next().value as Entry<V> | undefined;
    if (oldest !== undefined) this.timer = setTimeout(this.onTimer, Math.max(1, oldest.expiresAt - now)).unref();
  };
}
