/**
 * The decoder table (receiver/src/decode/index.ts): every event type has one
 * decoder, records are routed by their `type`, and what cannot be read is a
 * DecodeError with a reason (counted by the agent), never another exception.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DNS_LOOKUP_LAYOUT, DnsFunc } from '../receiver/src/decode/dns';
import { DNS_RESPONSE_LAYOUT } from '../receiver/src/decode/dns-response';
import { AF_INET } from '../receiver/src/decode/tcp-connect';
import { decodeEvent, decodeKinds, DECODERS, eventTimeNs } from '../receiver/src/decode/index';
import { DecodeError, EventType, type EventLayout } from '../receiver/src/decode/layout';
import { buildRecord, tcpRecord } from './helpers/event-builder';

function decodeError(record: Buffer): DecodeError {
  try {
    decodeEvent(record);
  } catch (err) {
    assert.ok(err instanceof DecodeError, String(err));
    return err;
  }
  assert.fail('decoded');
}

describe('decoder table', () => {
  it('has one entry per event type, each decoding a record of its own type to its own kind', () => {
    assert.deepEqual(Object.keys(DECODERS).map(Number).sort(), Object.values(EventType).sort());
    const kinds = new Set<string>();
    for (const [type, entry] of Object.entries(DECODERS)) {
      const layout: EventLayout<'type'> = entry.layout;
      const record = buildRecord(layout, { type: Number(type) });
      if (Number(type) === EventType.TcpConnect) tcpRecord({}).copy(record);
      if (Number(type) === EventType.DnsLookup) record.writeUInt32LE(DnsFunc.Getaddrinfo, DNS_LOOKUP_LAYOUT.fields.func.offset); // no function 0
      if (Number(type) === EventType.DnsResponse) record.writeUInt16LE(AF_INET, DNS_RESPONSE_LAYOUT.fields.family.offset); // no family 0
      const event = decodeEvent(record);
      assert.equal(event.kind, entry.decode(record).kind);
      kinds.add(event.kind);
    }
    assert.equal(kinds.size, Object.keys(DECODERS).length, 'kinds are unique');
  });

  it('unknown types and records too short for a type are decode errors', () => {
    assert.equal(decodeError(Buffer.alloc(2)).reason, 'truncated');
    const unknown = Buffer.alloc(64);
    unknown.writeUInt32LE(999, 0);
    assert.equal(decodeError(unknown).reason, 'unknown_type');
    assert.equal(decodeError(tcpRecord({}).subarray(0, 20)).reason, 'truncated');
  });

  it('decodeKinds keeps the kinds asked for; eventTimeNs orders a connect by its end', () => {
    const tcp = tcpRecord({ start: 5n, end: 9n });
    assert.equal(decodeKinds('proc_exec')(tcp), undefined);
    const event = decodeKinds('tcp_connect')(tcp);
    assert.equal(event?.kind, 'tcp_connect');
    assert.equal(event && eventTimeNs(event), 9n);
  });
});
