/**
 * DNS lookup metrics, as SDK instruments: the duration histogram
 * (dns.lookup.duration, seconds) and a lookup counter by outcome. Bounded
 * cardinality: the name asked for is an attribute only when asked for
 * (--dns-metric-names).
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { lookupOutcome, type DnsLookup } from './lookups';
import { ATTR_DNS_OUTCOME, ATTR_DNS_QUESTION_NAME, ATTR_ERROR_TYPE, METRIC_DNS_LOOKUP_DURATION, METRIC_DNS_LOOKUPS } from '../semconv';

/** Explicit bucket bounds in seconds: 100 µs (a cache or /etc/hosts) to 30 s (resolver timeouts). */
export const DNS_DURATION_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class DnsMetrics {
  private readonly duration: Histogram;
  private readonly lookups: Counter;

  constructor(
    meter: Meter,
    private readonly withNames: boolean,
  ) {
    this.duration = meter.createHistogram(METRIC_DNS_LOOKUP_DURATION, {
      description: 'Time a name lookup took: a C library resolver call on the calling thread, or a DNS query to its response on the socket',
      unit: 's',
      advice: { explicitBucketBoundaries: DNS_DURATION_BOUNDS },
    });
    this.lookups = meter.createCounter(METRIC_DNS_LOOKUPS, { description: 'Name lookups by outcome', unit: '{lookup}' });
  }

  /** `name` already passed through the user's redaction. */
  record(event: DnsLookup, name: string): void {
    const outcome = lookupOutcome(event);
    const attributes: Attributes = {};
    if (!outcome.ok) attributes[ATTR_ERROR_TYPE] = outcome.outcome;
    if (this.withNames) attributes[ATTR_DNS_QUESTION_NAME] = name;
    this.duration.record(Number(event.endNs - event.startNs) / 1e9, attributes);
    this.lookups.add(1, { ...attributes, [ATTR_DNS_OUTCOME]: outcome.outcome });
  }
}
