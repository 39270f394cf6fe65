/**
 * Arrays shared by many events and spans, never written once marked: a long argv that repeats
 * decodes to one such array (decode/argv-memo.ts), and the stages after keep their own work on it
 * by identity (CommandTracer's redacted argv, the jsonl exporter's JSON of that).
 *
 * Marked in a WeakSet rather than frozen: a frozen array has an elements kind of its own, and code
 * that meets both kinds (the redaction rules, which read every argv) loads every element through
 * V8's generic path. Measured (perf) under an exec storm of varied 4 KiB argv: 4.8 µs per exec, a
 * fifth of the rules' time. The TypeScript types (readonly arrays) keep the stages from writing to
 * them.
 */
const shared = new WeakSet<readonly unknown[]>();

/** Marks `array` as shared from now on (it must not be written again); returns it. */
export function markShared<T extends readonly unknown[]>(array: T): T {
  shared.add(array);
  return array;
}

/** Whether `value` is an array marked by markShared. */
export function isShared(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && shared.has(value);
}
