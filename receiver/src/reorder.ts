/**
 * Puts events from several ring buffers back in kernel time order.
 *
 * Each probe has its own ring buffer, delivered in its own batches, so an
 * exec can reach us after the connect it made, or a prompt after the exit
 * that preceded it. Events wait here for `windowNs` of CLOCK_MONOTONIC
 * (the clock bpf_ktime_get_ns uses) and are then handled in timestamp order.
 * An event older than what was already released (it arrived later than the
 * window) is handled at once and counted as late.
 */
export class ReorderBuffer {
  private pending: Array<{ ts: bigint; seq: number; run: () => void }> = [];
  private seq = 0;
  private releasedUpTo = 0n;
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

  push(ts: bigint, run: () => void): void {
    if (ts <= this.releasedUpTo) {
      this.late++;
      this.safeRun(run);
      return;
    }
    this.pending.push({ ts, seq: this.seq++, run });
  }

  /** Runs every pending event with ts <= upTo, oldest first. */
  release(upTo: bigint): void {
    if (this.pending.length === 0) {
      if (upTo > this.releasedUpTo) this.releasedUpTo = upTo;
      return;
    }
    this.pending.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.seq - b.seq));
    let n = 0;
    while (n < this.pending.length && (this.pending[n] as { ts: bigint }).ts <= upTo) n++;
    const ready = this.pending.splice(0, n);
    if (upTo > this.releasedUpTo) this.releasedUpTo = upTo;
    for (const e of ready) this.safeRun(e.run);
  }

  /** Runs everything now (shutdown). */
  flush(): void {
    this.release(BigInt('0x7fffffffffffffff'));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.flush();
  }

  private safeRun(run: () => void): void {
    try {
      run();
    } catch (err) {
      this.onError(err);
    }
  }
}
