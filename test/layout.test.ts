/**
 * One source of truth for each event layout: the C headers. Every layout the
 * decoders use is compared with the struct's BTF in the compiled object, so
 * a field added, moved or resized on one side only fails here.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BpfObject } from '../addon/lib/index';
import { BASH_PROMPT_LAYOUT, BASH_READLINE_LAYOUT } from '../receiver/src/decode/bash';
import { DNS_ADDR_LAYOUT, DNS_LOOKUP_LAYOUT } from '../receiver/src/decode/dns';
import type { EventLayout } from '../receiver/src/decode/layout';
import { PROC_EXEC_LAYOUT, PROC_EXIT_LAYOUT, PROC_FORK_LAYOUT } from '../receiver/src/decode/proc';
import { TCP_CONNECT_LAYOUT } from '../receiver/src/decode/tcp-connect';
import { TCP_HIST_KEY_LAYOUT, TCP_HIST_VALUE_LAYOUT } from '../receiver/src/tcp/metrics';

const BPF_DIR = path.resolve(__dirname, '../../build/bpf');

const LAYOUTS: EventLayout[] = [
  TCP_CONNECT_LAYOUT,
  TCP_HIST_KEY_LAYOUT,
  TCP_HIST_VALUE_LAYOUT,
  PROC_EXEC_LAYOUT,
  PROC_FORK_LAYOUT,
  PROC_EXIT_LAYOUT,
  BASH_READLINE_LAYOUT,
  BASH_PROMPT_LAYOUT,
  DNS_LOOKUP_LAYOUT,
  DNS_ADDR_LAYOUT,
];

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
