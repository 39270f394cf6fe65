/**
 * One source of truth for the kernel ABI: the C headers in bpf/. Every
 * layout the decoders use is compared with the struct's BTF in the compiled
 * object, and every enum the receiver mirrors (event types, outcomes, flags,
 * stat indices, settings bits) with the enum's BTF. The check is generic:
 * an enum or struct added to any bpf/*.h without its TypeScript side fails
 * here, and so does a value moved on one side only (shown below by
 * compiling a header with two outcomes swapped).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BpfObject } from '../addon/lib/index';
import { PROC_ARGS_MAX_COUNT, ProcExecFlag } from '../receiver/src/decode/proc';
import { BashLineFlag } from '../receiver/src/decode/bash';
import { DNS_ADDR_LAYOUT, DnsFlag, DnsFunc, DnsLimit } from '../receiver/src/decode/dns';
import { DECODERS } from '../receiver/src/decode/index';
import { EventType, type EventLayout } from '../receiver/src/decode/layout';
import { TCP_OUTCOME_COUNT, TCP_OUTCOME_NAMES, TcpOutcome } from '../receiver/src/decode/tcp-connect';
import { BASH_STAT_COUNT, BashGlobal, BashLimit, BashStat } from '../receiver/src/probes/bash';
import { DNS_STAT_COUNT, DnsStat } from '../receiver/src/probes/dns';
import { DnsSockFlag, DnsSockLimit } from '../receiver/src/decode/dns-response';
import { DNSSOCK_STAT_COUNT, DnsSockStat } from '../receiver/src/probes/dns-socket';
import { PROC_CGROUP_NAMES_LAYOUT, PROC_EXEC_COUNT_KEY_LAYOUT, PROC_STAT_COUNT, ProcStat } from '../receiver/src/probes/proc';
import { TCP_STAT_COUNT, TcpStat } from '../receiver/src/probes/tcp';
import { TCP_HIST_KEY_LAYOUT, TCP_HIST_SLOTS, TCP_HIST_SUB_BITS, TCP_HIST_SUB_BUCKETS, TCP_HIST_VALUE_LAYOUT } from '../receiver/src/tcp/metrics';
import { checkAbi, readAllBtf, readHeaderDecls, readObjectBtf, type AbiExpectations, type EnumMirror } from './helpers/abi';

const ROOT = path.resolve(__dirname, '../..');
const BPF_DIR = path.join(ROOT, 'build/bpf');
const HEADER_DIR = path.join(ROOT, 'bpf');

/** Every struct the receiver reads: the decoder table's, and the TCP histogram map's. */
const LAYOUTS: EventLayout[] = [...Object.values(DECODERS).map((d) => d.layout), TCP_HIST_KEY_LAYOUT, TCP_HIST_VALUE_LAYOUT, PROC_EXEC_COUNT_KEY_LAYOUT, PROC_CGROUP_NAMES_LAYOUT, DNS_ADDR_LAYOUT];

/** Every C enum the receiver mirrors: a new enum in bpf/*.h gets its line here. */
const ENUMS: EnumMirror[] = [
  { cEnum: 'event_type', prefix: 'EVENT_', values: EventType },
  {
    cEnum: 'tcp_connect_outcome',
    prefix: 'TCP_OUTCOME_',
    values: TcpOutcome,
    count: TCP_OUTCOME_COUNT,
    cNames: { HostUnreachable: 'TCP_OUTCOME_HOST_UNREACH', NetworkUnreachable: 'TCP_OUTCOME_NET_UNREACH' },
  },
  { cEnum: 'tcp_stat', prefix: 'TCP_STAT_', values: TcpStat, count: TCP_STAT_COUNT },
  {
    cEnum: 'tcp_hist',
    prefix: 'TCP_HIST_',
    values: { SubBits: TCP_HIST_SUB_BITS, SubBuckets: TCP_HIST_SUB_BUCKETS, Slots: TCP_HIST_SLOTS },
  },
  { cEnum: 'proc_limit', prefix: 'PROC_', values: { ArgsMaxCount: PROC_ARGS_MAX_COUNT } },
  { cEnum: 'proc_exec_flag', prefix: 'PROC_EXEC_F_', values: ProcExecFlag },
  { cEnum: 'proc_stat', prefix: 'PROC_STAT_', values: ProcStat, count: PROC_STAT_COUNT },
  { cEnum: 'bash_line_flag', prefix: 'BASH_F_', values: BashLineFlag },
  { cEnum: 'bash_stat', prefix: 'BASH_STAT_', values: BashStat, count: BASH_STAT_COUNT },
  { cEnum: 'bash_global', prefix: 'BASH_GLOBAL_', values: BashGlobal },
  { cEnum: 'bash_limit', prefix: 'BASH_', values: BashLimit },
  { cEnum: 'dns_limit', prefix: 'DNS_', values: DnsLimit },
  { cEnum: 'dns_func', prefix: 'DNS_FUNC_', values: DnsFunc },
  { cEnum: 'dns_lookup_flag', prefix: 'DNS_F_', values: DnsFlag },
  { cEnum: 'dns_stat', prefix: 'DNS_STAT_', values: DnsStat, count: DNS_STAT_COUNT },
  { cEnum: 'dnssock_limit', prefix: 'DNSSOCK_', values: DnsSockLimit },
  { cEnum: 'dnssock_flag', prefix: 'DNSSOCK_F_', values: DnsSockFlag },
  { cEnum: 'dnssock_stat', prefix: 'DNSSOCK_STAT_', values: DnsSockStat, count: DNSSOCK_STAT_COUNT },
];

const EXPECTED: AbiExpectations = { enums: ENUMS, layouts: LAYOUTS };

describe('event layouts match the C structs (BTF)', () => {
  for (const layout of LAYOUTS) {
    it(`${layout.object}: struct ${layout.struct}`, () => {
      const object = BpfObject.open(path.join(BPF_DIR, `${layout.object}.bpf.o`));
      try {
        const btf = object.btfStruct(layout.struct);
        assert.equal(btf.size, layout.size, `sizeof(struct ${layout.struct})`);
        const members = new Map(btf.members.map((m) => [m.name, m]));
        for (const [name, field] of Object.entries(layout.fields)) {
          const member = members.get(name);
          assert.ok(member, `struct ${layout.struct} has no field ${name}`);
          assert.equal(member.offset, field.offset, `offsetof(${layout.struct}, ${name})`);
          assert.equal(member.size, field.size, `sizeof(${layout.struct}.${name})`);
        }
        for (const member of btf.members) {
          if (member.name.startsWith('_pad') || member.name === '') continue;
          assert.ok(member.name in layout.fields, `struct ${layout.struct}.${member.name} is not in the TypeScript layout`);
        }
      } finally {
        object.close();
      }
    });
  }
});

describe('enums, flags and stat indices match BTF', () => {
  it('every enum and struct of bpf/*.h is in BTF and agrees with its TypeScript mirror', () => {
    assert.deepEqual(checkAbi(readAllBtf(BPF_DIR), readHeaderDecls(HEADER_DIR), EXPECTED), []);
  });

  it('outcome names are indexed by the outcome value', () => {
    assert.equal(TCP_OUTCOME_NAMES.length, TCP_OUTCOME_COUNT);
    for (const [key, value] of Object.entries(TcpOutcome)) {
      assert.equal(TCP_OUTCOME_NAMES[value], key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase(), key);
    }
  });

  it('a reordered C enum, or one without its mirror, fails the check', () => {
    // A copy of bpf/ with two outcomes swapped and a new enum, built the way `make -C bpf` builds.
    const dir = mkdtempSync(path.join(tmpdir(), 'ebpf-otel-abi-'));
    try {
      cpSync(HEADER_DIR, path.join(dir, 'bpf'), { recursive: true });
      cpSync(path.join(BPF_DIR, 'vmlinux.h'), path.join(dir, 'out/vmlinux.h'));
      const header = path.join(dir, 'bpf/tcpconnect.h');
      const text = readFileSync(header, 'utf8');
      const swapped = text
        .replace(/\bTCP_OUTCOME_REFUSED\s*=\s*1\b/, 'TCP_OUTCOME_REFUSED = 2')
        .replace(/\bTCP_OUTCOME_TIMED_OUT\s*=\s*2\b/, 'TCP_OUTCOME_TIMED_OUT = 1')
        .replace(/#endif\s*$/, 'enum tcp_new_thing { TCP_NEW_THING_A = 0 };\nEBPF_OTEL_BTF_ENUM(tcp_new_thing)\n#endif\n');
      assert.equal(swapped.match(/TCP_OUTCOME_REFUSED = 2|TCP_OUTCOME_TIMED_OUT = 1|tcp_new_thing \{/g)?.length, 3, 'the header edits applied');
      writeFileSync(header, swapped);
      execFileSync('make', ['-s', '-C', path.join(dir, 'bpf'), 'OUTPUT=../out', '../out/tcpconnect.bpf.o'], { stdio: ['ignore', 'ignore', 'pipe'] });

      const objects = readAllBtf(BPF_DIR).map((o) => (o.object === 'tcpconnect' ? readObjectBtf(path.join(dir, 'out/tcpconnect.bpf.o')) : o));
      const problems = checkAbi(objects, readHeaderDecls(path.join(dir, 'bpf')), EXPECTED);
      assert.ok(problems.some((p) => p.includes('TCP_OUTCOME_REFUSED is 2 in C, 1 in TypeScript')), problems.join('\n'));
      assert.ok(problems.some((p) => p.includes('TCP_OUTCOME_TIMED_OUT is 1 in C, 2 in TypeScript')), problems.join('\n'));
      assert.ok(problems.some((p) => p.includes('enum tcp_new_thing (bpf/tcpconnect.h) has no TypeScript mirror')), problems.join('\n'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
