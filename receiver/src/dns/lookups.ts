/**
 * What happens to one decoded lookup: IP literals dropped (parsed, not
 * looked up), the name redacted if a user pattern asks, the answers
 * remembered for the connects that follow, the metrics recorded, and a span
 * when the sampling policy keeps it, scheduled in kernel time order (so its
 * process span exists first). Names and metrics need no ordering (answers
 * carry their time), so only kept spans wait.
 */
import type { Context } from '@opentelemetry/api';
import { dnsOutcome, isNumericHost, type DnsLookupEvent, type DnsOutcome } from '../decode/dns';
import type { SampleDecision, SpanGate } from '../sampling';
import type { DnsMetrics } from './metrics';
import type { PeerNames } from './names';
import type { DnsResponseLookup } from './responses';
import type { DnsLookupSpanBuilder, NameFilter } from './spans';

/** A lookup from either source: a C library call (uprobes), or a DNS response read at the socket. */
export type DnsLookup = DnsLookupEvent | DnsResponseLookup;

/** Success, or the error.type value, whichever source the lookup came from. */
export function lookupOutcome(lookup: DnsLookup): DnsOutcome {
  return lookup.kind === 'dns_response_lookup' ? lookup.outcome : dnsOutcome(lookup);
}

export interface DnsLookupsOptions {
  readonly names: PeerNames;
  readonly spans: DnsLookupSpanBuilder;
  readonly gate: SpanGate;
  readonly filterName: NameFilter;
  /** Set once the meter exists. */
  readonly metrics: () => DnsMetrics | undefined;
  /** The process span a lookup of `pid` that started at `startedNs` belongs under. */
  readonly contextFor: (pid: number, startedNs: bigint) => Context | undefined;
  /** Runs `run` in kernel time order at `timeNs` (the agent's ReorderBuffer). */
  readonly schedule: (timeNs: bigint, run: () => void) => void;
  readonly onSampledOut: (decision: Exclude<SampleDecision, 'keep'>) => void;
}

export class DnsLookups {
  constructor(private readonly opts: DnsLookupsOptions) {}

  onLookup(event: DnsLookup): void {
    if (isNumericHost(event.name)) return;
    const o = this.opts;
    const name = o.filterName(event.name);
    const outcome = lookupOutcome(event);
    if (outcome.ok) o.names.remember(event.pid, name, event.addresses, event.endNs);
    o.metrics()?.record(event, name);
    const decision = o.gate.decide(!outcome.ok, event.endNs - event.startNs);
    if (decision !== 'keep') {
      o.onSampledOut(decision);
      return;
    }
    o.schedule(event.endNs, () => o.spans.emit(event, o.contextFor(event.pid, event.startNs)));
  }
}
