/**
 * The text rules' result for each word of a program's last long argv, so that the next argv of the
 * same program, differing in a few words (a loop's counter, a file name, a request id), runs the
 * rules on those words only. The text rules (redactText) look inside one word and nowhere else, so
 * an unchanged word's result is the same; the rules that read words together (flags and their
 * values, tools, scripts) still run on every argv, after this.
 *
 * An exact repeat never reaches here redacted twice: the decoder shares one array for it
 * (decode/argv-memo.ts) and CommandTracer keeps its redacted form. This is for the argv that
 * differs every time, where the rules on 4 KiB of secret-shaped words were most of the agent's work.
 *
 * Why this shape:
 * - Keyed by the program (argv[0]), one argv each: consecutive execs of one program are what
 *   repeats words; a word-keyed cache would hash every word, where comparing with the same
 *   position of the last argv is one string comparison (~50 ns for a 60-character word). The
 *   words the two joined argv share at either end are found 512 characters at a time (sharedEnds),
 *   and only the words between are compared one by one.
 * - Past a quarter of the words changed, the whole argv goes the usual way (one pass over the words
 *   joined, cheaper than word by word for many).
 * - Raw argv, secrets included, is held RECENT_ARGV_TTL_MS at most (ExpiringMap's timer), as the
 *   decoder's memo does.
 */
import { ExpiringMap } from '../expiring-map';

/** Argv shorter than this (joined) or with fewer words go the usual way: nothing worth saving. */
const RECENT_ARGV_MIN_CHARS = 256;
const RECENT_ARGV_MIN_WORDS = 8;
/** Programs whose last long argv is held. */
export const RECENT_ARGV_CAPACITY = 32;
/** As ARGV_MEMO_TTL_MS: raw argv stays seconds in the agent's memory. */
export const RECENT_ARGV_TTL_MS = 2_000;

interface Recent {
  readonly words: readonly string[];
  /** `words.join('\0')`, when the caller gave it. */
  readonly joined: string | undefined;
  /** The text rules' result for each word (not the redacted argv: the other rules come after). */
  readonly text: readonly string[];
}

/** Characters compared at a time where the joined argv are compared from either end. */
const SAME_ENDS_CHUNK = 512;

/**
 * How many words at the start, and from which word to the end, `joined` and `lastJoined` (each
 * words joined with NUL, the same number of words) share whole, NUL included: they hold the same
 * words at the same indices. Found by comparing SAME_ENDS_CHUNK characters at a time from either
 * end, a memcmp each, where comparing word by word was a call per word (2.4 µs for 54 words of 4 KiB).
 * A word in the chunk where they first differ counts as not shared: the caller compares it.
 */
export function sharedEnds(words: readonly string[], joined: string, lastJoined: string): [before: number, from: number] {
  const n = joined.length;
  const m = lastJoined.length;
  let prefix = 0;
  while (prefix + SAME_ENDS_CHUNK <= Math.min(n, m) && joined.slice(prefix, prefix + SAME_ENDS_CHUNK) === lastJoined.slice(prefix, prefix + SAME_ENDS_CHUNK)) prefix += SAME_ENDS_CHUNK;
  let suffix = 0;
  while (suffix + SAME_ENDS_CHUNK <= Math.min(n, m) && joined.slice(n - suffix - SAME_ENDS_CHUNK, n - suffix) === lastJoined.slice(m - suffix - SAME_ENDS_CHUNK, m - suffix)) suffix += SAME_ENDS_CHUNK;
  // Word i spans [start, end) of `joined`, its NUL at `end`: shared from the start when [0, end] is
  // (the same characters, so the same NULs before it); shared to the end when [start - 1, n) is
  // (the same NULs after it, and as many words in all: the same index).
  let before = 0;
  let start = 0;
  for (; before < words.length; before++) {
    const end = start + (words[before] as string).length;
    if (end >= prefix) break;
    start = end + 1;
  }
  let from = words.length;
  let end = n;
  for (; from > 0; from--) {
    const first = end - (words[from - 1] as string).length;
    if (first - 1 < n - suffix) break;
    end = first - 1;
  }
  return [before, from];
}

export class RecentArgvText {
  private readonly recent: ExpiringMap<string, Recent>;

  /**
   * `allWords`: the text rules over an argv (redactWords); `oneWord`: over one word (redactText).
   * The first must give, word by word, what the second gives.
   */
  constructor(
    private readonly allWords: (words: readonly string[], joined?: string) => string[],
    private readonly oneWord: (word: string) => string,
    now?: () => number,
  ) {
    this.recent = new ExpiringMap(RECENT_ARGV_CAPACITY, RECENT_ARGV_TTL_MS, now);
  }

  /** Programs whose last long argv is held (expired ones go by a timer). */
  get size(): number {
    return this.recent.size;
  }

  /** allWords(words, joined), a copy the caller may write to. */
  textRules(words: readonly string[], joined?: string): string[] {
    const program = words[0];
    if (program === undefined || words.length < RECENT_ARGV_MIN_WORDS || (joined?.length ?? 0) < RECENT_ARGV_MIN_CHARS) return this.allWords(words, joined);
    const last = this.recent.get(program);
    let out = last !== undefined && last.words.length === words.length ? this.fromLast(words, joined, last) : undefined;
    out ??= this.allWords(words, joined);
    this.recent.set(program, { words, joined, text: out.slice() });
    return out;
  }

  /**
   * The words' results, from the last argv's where a word is the same; undefined past a quarter
   * changed. The words are compared first and the rules run after: an argv that changes every word
   * (a hostile user's) costs its comparisons up to the quarter, not the rules on a quarter of it twice.
   */
  private fromLast(words: readonly string[], joined: string | undefined, last: Recent): string[] | undefined {
    const changed: number[] = [];
    const most = words.length >> 2;
    const [before, from] = joined !== undefined && last.joined !== undefined ? sharedEnds(words, joined, last.joined) : [0, words.length];
    for (let i = before; i < from; i++) {
      if (words[i] === last.words[i]) continue;
      if (changed.length === most) return undefined;
      changed.push(i);
    }
    const out = last.text.slice();
    for (const i of changed) out[i] = this.oneWord(words[i] as string);
    return out;
  }
}
