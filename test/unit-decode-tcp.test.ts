import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecodeError } from '../receiver/src/decode/layout';
import { tcpRecord } from './helpers/event-builder';
import {
  AF_INET6,
  decodeTcpConnect,
  formatAddress,
  parseAddress,
  TcpOutcome,
} from '../receiver/src/decode/tcp-connect';

describe('tcp_connect_event decoder', () => {
  const cases: Array<{ name: string; record: Buffer; expect: Record<string, unknown> }> = [
    {
      name: 'IPv4 established',
      record: tcpRecord({ saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 51000, dport: 8080, comm: 'curl' }),
      expect: { networkType: 'ipv4', localAddress: '127.0.0.1', peerAddress: '127.0.0.1', localPort: 51000, peerPort: 8080, comm: 'curl', outcome: TcpOutcome.Established },
    },
    {
      name: 'IPv6 refused',
      record: tcpRecord({ family: AF_INET6, saddr: '::1', daddr: '::1', outcome: TcpOutcome.Refused, err: 111 }),
      expect: { networkType: 'ipv6', peerAddress: '::1', outcome: TcpOutcome.Refused, skErr: 111 },
    },
    {
      name: 'IPv4-mapped on an IPv6 socket is reported as IPv4',
      record: tcpRecord({ family: AF_INET6, saddr: '::ffff:7f00:1', daddr: '::ffff:c000:201' }),
      expect: { networkType: 'ipv4', family: AF_INET6, localAddress: '127.0.0.1', peerAddress: '192.0.2.1' },
    },
    {
      name: 'a 16-character comm is not NUL-terminated',
      record: tcpRecord({ comm: 'abcdefghijklmnop' }),
      expect: { comm: 'abcdefghijklmnop' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = decodeTcpConnect(c.record);
      for (const [k, v] of Object.entries(c.expect)) assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, k);
    });
  }

  it('rejects truncated records, unknown types, bad outcomes and families', () => {
    assert.throws(() => decodeTcpConnect(tcpRecord({}).subarray(0, 50)), (e: unknown) => e instanceof DecodeError && e.reason === 'truncated');
    assert.throws(() => decodeTcpConnect(tcpRecord({ type: 9 })), (e: unknown) => e instanceof DecodeError && e.reason === 'unknown_type');
    assert.throws(() => decodeTcpConnect(tcpRecord({ outcome: 99 })), (e: unknown) => e instanceof DecodeError && e.reason === 'invalid');
    assert.throws(() => decodeTcpConnect(tcpRecord({ family: 1 })), (e: unknown) => e instanceof DecodeError && e.reason === 'invalid');
  });
});

describe('address formatting', () => {
  const cases: Array<[string, string]> = [
    ['::1', '::1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80::1:0:0:1', 'fe80::1:0:0:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
  ];
  for (const [input, text] of cases) {
    it(`${input} -> ${text}`, () => {
      const { family, bytes } = parseAddress(input);
      assert.equal(formatAddress(family, bytes), text);
    });
  }
});
