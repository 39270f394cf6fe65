/**
 * A Map bounded to `capacity` entries: the least recently used entry is
 * evicted (and handed to `onEvict`, which counts it) when a new one would not
 * fit. A JavaScript Map iterates in insertion order, so re-inserting on use
 * keeps the oldest first: every operation is O(1).
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(
    readonly capacity: number,
    private readonly onEvict: (key: K, value: V) => void = () => undefined,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`LruMap capacity ${capacity}: expected at least 1`);
  }

  get size(): number {
    return this.map.size;
  }

  /** Looks up and marks as used. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** Looks up without changing the order. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.capacity) {
      const oldest = this.map.entries().next().value as [K, V];
      this.map.delete(oldest[0]);
      this.onEvict(oldest[0], oldest[1]);
    }
    this.map.set(key, value);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map[Symbol.iterator]();
  }
}
