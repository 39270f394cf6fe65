/**
 * Per process, the names recent lookups answered with, by address: a
 * connect to one of those addresses is named by what the process asked for.
 * Bounded (processes, addresses per process) and aged (a fixed TTL: the C
 * library does not hand the DNS record's TTL to the program). When two
 * names answered with one address, the most recent answer for that process
 * wins. Times are kernel CLOCK_MONOTONIC nanoseconds.
 */
export interface PeerNamesOptions {
  /** How long an answer names connects to its addresses. */
  readonly ttlNs: bigint;
  /** Addresses remembered per process (the oldest answer goes first). */
  readonly maxPerProcess: number;
  /** Processes remembered (the least recently resolving goes first). */
  readonly maxProcesses: number;
}

export const DEFAULT_PEER_NAMES: PeerNamesOptions = { ttlNs: 300_000_000_000n, maxPerProcess: 256, maxProcesses: 4096 };

interface Answer {
  readonly name: string;
  readonly untilNs: bigint;
}

export class PeerNames {
  private readonly byPid = new Map<number, Map<string, Answer>>();

  constructor(private readonly opts: PeerNamesOptions = DEFAULT_PEER_NAMES) {}

  /** `name` answered with `addresses` for `pid` at `atNs`. */
  remember(pid: number, name: string, addresses: readonly string[], atNs: bigint): void {
    if (addresses.length === 0) return;
    let answers = this.byPid.get(pid);
    if (answers) this.byPid.delete(pid);
    else answers = new Map();
    this.byPid.set(pid, answers); // most recent last
    for (const address of addresses) {
      answers.delete(address);
      answers.set(address, { name, untilNs: atNs + this.opts.ttlNs });
    }
    while (answers.size > this.opts.maxPerProcess) answers.delete(answers.keys().next().value as string);
    while (this.byPid.size > this.opts.maxProcesses) this.byPid.delete(this.byPid.keys().next().value as number);
  }

  /** The name `pid` last resolved to `address`, if still fresh at `atNs`. */
  nameFor(pid: number, address: string, atNs: bigint): string | undefined {
    const answers = this.byPid.get(pid);
    const answer = answers?.get(address);
    if (!answers || !answer) return undefined;
    if (answer.untilNs < atNs) {
      answers.delete(address);
      if (answers.size === 0) this.byPid.delete(pid);
      return undefined;
    }
    return answer.name;
  }

  /** The process is gone. */
  forget(pid: number): void {
    this.byPid.delete(pid);
  }

  get processes(): number {
    return this.byPid.size;
  }
}
