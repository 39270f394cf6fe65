/**
 * Command and exec metrics. Names are attribute values, so their number is
 * bounded: the first MAX_NAMES distinct names are kept as they are, later
 * ones are counted under "_other" (the count stays exact, only the split is
 * coarser). command_not_run is always its own: a typo or a pasted password,
 * which an alert may watch for, is not lost in _other on a busy host.
 */
import type { Counter, Histogram, Meter, ObservableCounter } from '@opentelemetry/api';
import { NOT_RUN } from './tracer';

export const METRIC_COMMANDS = 'ebpf_otel.commands';
export const METRIC_COMMAND_DURATION = 'ebpf_otel.command.duration';
export const METRIC_EXECS = 'ebpf_otel.process.execs';
export const ATTR_COMMAND_NAME = 'ebpf_otel.command.name';
export const MAX_NAMES = 200;
export const OTHER = '_other';

export class BoundedNames {
  private readonly seen = new Set<string>();
  /** `alwaysKept`: names kept as they are whatever came before, not counted in `limit`. */
  constructor(
    private readonly limit: number = MAX_NAMES,
    private readonly alwaysKept: ReadonlySet<string> = new Set(),
  ) {}

  map(name: string): string {
    if (this.seen.has(name) || this.alwaysKept.has(name)) return name;
    if (this.seen.size >= this.limit) return OTHER;
    this.seen.add(name);
    return name;
  }
}

export class CommandMetrics {
  private readonly commands: Counter;
  private readonly durations: Histogram;
  private readonly execs: ObservableCounter;
  private readonly commandNames = new BoundedNames(MAX_NAMES, new Set([NOT_RUN]));
  private readonly execNames = new BoundedNames();

  constructor(meter: Meter) {
    this.commands = meter.createCounter(METRIC_COMMANDS, { description: 'Commands entered in traced interactive shells', unit: '{command}' });
    this.durations = meter.createHistogram(METRIC_COMMAND_DURATION, {
      description: 'Wall time of interactive commands, from the line entered to the next prompt',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] },
    });
    this.execs = meter.createObservableCounter(METRIC_EXECS, { description: 'Programs executed (execve), on the whole host', unit: '{process}' });
  }

  /**
   * Exec counts come from the kernel (bpf/proc.bpf.c aggregates them): `source`
   * returns cumulative counts by executable name, '' for the kernel's own
   * overflow key. Reported as _other past MAX_NAMES names, like commands.
   */
  observeExecs(source: () => Array<[string, bigint]>): void {
    this.execs.addCallback((result) => {
      const totals = new Map<string, number>();
      for (const [name, n] of source()) {
        if (n === 0n) continue;
        const label = name === '' ? OTHER : this.execNames.map(name);
        totals.set(label, (totals.get(label) ?? 0) + Number(n));
      }
      for (const [label, n] of totals) result.observe(n, { 'process.executable.name': label });
    });
  }

  command(name: string): void {
    this.commands.add(1, { [ATTR_COMMAND_NAME]: this.commandNames.map(name) });
  }

  commandDuration(name: string, seconds: number): void {
    this.durations.record(seconds, { [ATTR_COMMAND_NAME]: this.commandNames.map(name) });
  }
}
