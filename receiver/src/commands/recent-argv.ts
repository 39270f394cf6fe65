/**
 * The text rules' result for each word of a program's last long argv, so that the next argv of the
 * same program, differing in a few words (a loop's counter, a file name, a request id), runs the
 * rules on those words only. The text rules (redactText) look inside one word and nowhere else, so
 * an unchanged word's result is the same; the rules that read words together (flags and their
 * values, tools, scripts) still run on every argv, after this.
 *
 * An exact repeat never reaches here redacted twice: the decoder shares one frozen array for it
 * (decode/argv-memo.ts) and CommandTracer keeps its redacted form. This is for the argv that
 * differs every time, where the rules on 4 KiB of secret-shaped words were most of the agent's work.
 *
 * Why this shape:
 * - Keyed by the program (argv[0]), one argv each: consecutive execs of one program are what
 *   repeats words; a word-keyed cache would hash every word, where comparing with the same
 *   position of the last argv is one string comparison (~50 ns for a 60-character word).
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
  /** The text rules' result for each word (not the redacted argv: the other rules come after). */
  readonly text: readonly string[];
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
    let out = last !== undefined && last.words.length === words.length ? this.fromLast(words, last) : undefined;
    out ??= this.allWords(words, joined);
    this.recent.set(program, { words, text: out.slice() });
    return out;
  }

  /**
   * The words' results, from the last argv's where a word is the same; undefined past a quarter
   * changed. The words are compared first and the rules run after: an argv that changes every word
   * (a hostile user's) costs its comparisons up to the quarter, not the rules on a quarter of it twice.
   */
  private fromLast(words: readonly string[], last: Recent): string[] | undefined {
    const changed: number[] = [];
    const most = words.length >> 2;
    for (let i = 0; i < words.length; i++) {
      if (words[i] === last.words[i]) continue;
      if (changed.length === most) return undefined;
      changed.push(i);
    }
    const out = last.text.slice();
    for (const i of changed) out[i] = this.oneWord(words[i] as string);
    return out;
  }
}
