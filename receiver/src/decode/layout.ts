/**
 * Byte layouts of the kernel's event structs as the decoders read them.
 * The C headers in bpf/ are the source of truth; test/layout.test.ts compares
 * every layout declared here with the struct's BTF in the compiled object, so a
 * change on one side without the other fails the tests.
 */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}

export interface EventLayout<F extends string = string> {
  /** Name of the C struct (as it appears in BTF). */
  readonly struct: string;
  /** BPF object (build/bpf/<object>.bpf.o) whose BTF carries the struct. */
  readonly object: string;
  readonly size: number;
  readonly fields: Readonly<Record<F, FieldLayout>>;
}

/** A record the decoder could not read: counted by the agent, never fatal. */
export class DecodeError extends Error {
  constructor(
    /**
     * dns_malformed: a message on a DNS client socket that is not a DNS response; dns_unmatched: a
     * response to no query the socket sent (its id). Anyone can send either.
     */
    readonly reason: 'truncated' | 'unknown_type' | 'invalid' | 'dns_malformed' | 'dns_unmatched',
    message: string,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

/**
 * Checks what every record starts with: at least `minSize` bytes and the
 * `__u32 type` the decoder expects.
 */
export function checkEventHeader(buf: Buffer, what: string, minSize: number, type: number): void {
  if (buf.length < minSize) {
    throw new DecodeError('truncated', `${what}: ${buf.length} bytes, expected at least ${minSize}`);
  }
  const actual = buf.readUInt32LE(0);
  if (actual !== type) throw new DecodeError('unknown_type', `${what}: type ${actual}, expected ${type}`);
}

/** Reads a NUL-terminated string from a fixed-size char array. */
export function readCString(buf: Buffer, offset: number, size: number): string {
  const end = buf.indexOf(0, offset);
  const stop = end === -1 || end > offset + size ? offset + size : end;
  return buf.toString('utf8', offset, stop);
}

/** Every event struct starts with `__u32 type` (enum event_type in bpf/common.h; checked against BTF by test/layout.test.ts). */
export const EventType = {
  TcpConnect: 1,
  ProcExec: 2,
  ProcExit: 3,
  ProcFork: 4,
  BashReadline: 5,
  BashPrompt: 6,
  DnsLookup: 7,
  DnsResponse: 8,
} as const;
export type EventTypeId = (typeof EventType)[keyof typeof EventType];
