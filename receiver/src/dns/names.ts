/**
 * Per process, the names recent lookups answered with, by address: a
 * connect to one of those addresses is named by what the process asked for.
 * Bounded (processes, addresses per process) and aged (a fixed TTL: the C
 * library does not hand the DNS record's TTL to the program). When two
 * names answered with one address, the most recent answer for that process
 * wins. Times are kernel CLOCK_MONOTONIC nanoseconds.
 *
 * Answers are remembered as lookups arrive, before connects that happened
 * earlier are named (events wait a moment to be put in time order): an
 * answer only names connects that started after the lookup returned.
 */
export interface PeerNamesOptions {
  /** How long an answer names connects to its addresses. */
  readonly ttlNs: bigint;
  /** Addresses remembered per process (the least recently answered goes first). */
  readonly maxPerProcess: number;
  /** Processes remembered (the least recently resolving goes first). */
  readonly maxProcesses: number;
}

export const DEFAULT_PEER_NAMES: PeerNamesOptions = { ttlNs: 300_000_000_000n, maxPerProcess: 256, maxProcesses: 4096 };

/**
 * Answers kept per address: the latest few, so a connect is named by the
 * answer that was the most recent when it started even when later lookups
 * of the same address arrived before it was handled.
 */
const HISTORY_PER_ADDRESS = 4;

interface Answer {
  readonly name: string;
  /** When the lookup returned. */
  readonly atNs: bigint;
}

export class PeerNames {
  /** pid -> address -> answers, oldest first. */
  private readonly byPid = new Map<number, Map<string, Answer[]>>();

  constructor(private readonly opts: PeerNamesOptions = DEFAULT_PEER_NAMES) {}

  /** `name` answered with `addresses` for `pid` at `atNs`. */
  remember(pid: number, name: string, addresses: readonly string[], atNs: bigint): void {
    if (addresses.length === 0) return;
    let answers = this.byPid.get(pid);
    if (answers) this.byPid.delete(pid);
    else answers = new Map();
    this.byPid.set(pid, answers); // most recent last
    for (const address of addresses) {
      const history = answers.get(address) ?? [];
      answers.delete(address);
      history.push({ name, atNs });
      if (history.length > HISTORY_PER_ADDRESS) history.shift();
      answers.set(address, history);
    }
    while (answers.size > this.opts.maxPerProcess) answers.delete(answers.keys().next().value as string);
    while (this.byPid.size > this.opts.maxProcesses) this.byPid.delete(this.byPid.keys().next().value as number);
  }

  /** The name of `pid`'s most recent answer for `address` before `atNs`, if still fresh then. */
  nameFor(pid: number, address: string, atNs: bigint): string | undefined {
    const history = this.byPid.get(pid)?.get(address);
    if (!history) return undefined;
    for (let i = history.length - 1; i >= 0; i--) {
      const answer = history[i] as Answer;
      if (answer.atNs > atNs) continue;
      return answer.atNs + this.opts.ttlNs >= atNs ? answer.name : undefined;
    }
    return undefined;
  }

  /** The process is gone. */
  forget(pid: number): void {
    this.byPid.delete(pid);
  }

  get processes(): number {
    return this.byPid.size;
  }
}
