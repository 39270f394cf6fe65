import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecodeError } from '../receiver/src/decode/layout';
import {
  AF_INET,
  AF_INET6,
  decodeTcpConnect,
  formatAddress,
  parseAddress,
  TCP_CONNECT_LAYOUT,
  TcpOutcome,
} from '../receiver/src/decode/tcp-connect';

/** Builds a record the way the kernel lays it out (bpf/tcpconnect.h). */
export function tcpRecord(fields: {
  outcome?: number; start?: bigint; end?: bigint; pid?: number; tid?: number; uid?: number; err?: number;
  family?: number; sport?: number; dport?: number; saddr?: string; daddr?: string; comm?: string; type?: number;
}): Buffer {
  const F = TCP_CONNECT_LAYOUT.fields;
  const b = Buffer.alloc(TCP_CONNECT_LAYOUT.size);
  b.writeUInt32LE(fields.type ?? 1, F.type.offset);
  b.writeUInt32LE(fields.outcome ?? 0, F.outcome.offset);
  b.writeBigUInt64LE(fields.start ?? 1_000n, F.start_ns.offset);
  b.writeBigUInt64LE(fields.end ?? 2_000n, F.end_ns.offset);
  b.writeBigUInt64LE(42n, F.cgroup_id.offset);
  b.writeUInt32LE(fields.pid ?? 100, F.pid.offset);
  b.writeUInt32LE(fields.tid ?? 101, F.tid.offset);
  b.writeUInt32LE(fields.uid ?? 0, F.uid.offset);
  b.writeInt32LE(fields.err ?? 0, F.sk_err.offset);
  const family = fields.family ?? AF_INET;
  b.writeUInt16LE(family, F.family.offset);
  b.writeUInt16LE(fields.sport ?? 40000, F.sport.offset);
  b.writeUInt16LE(fields.dport ?? 80, F.dport.offset);
  Buffer.from(parseAddress(fields.saddr ?? '10.0.0.1').bytes).copy(b, F.saddr.offset);
  Buffer.from(parseAddress(fields.daddr ?? '10.0.0.2').bytes).copy(b, F.daddr.offset);
  b.write(fields.comm ?? 'curl', F.comm.offset, 'utf8');
  return b;
}

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
