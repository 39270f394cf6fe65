/**
 * Splits a bash command line into simple commands and words the way bash
 * reads them, in one pass (O(n)): quotes ('…', "…", $'…') and backslashes
 * are removed from each word's value, and each word keeps where it lies in
 * the line so a redacted word can be put back in place. Command
 * substitutions ($(…), `…`) are kept verbatim in the word and reported as
 * nested scripts. No expansion is done ($VAR stays $VAR).
 *
 * Hand-written rather than a library: redaction needs the source range of
 * every word and tolerance for unfinished input (an open quote, a cut line),
 * which shell parsers on npm do not give.
 */

export interface Word {
  /** Offset of the word's first character in the line. */
  readonly start: number;
  /** Offset just past its last character. */
  readonly end: number;
  /** The word after quote removal. */
  readonly value: string;
  /** The whole word was one double-quoted string ("…"). */
  readonly doubleQuoted: boolean;
  /** Source ranges of command substitutions inside the word (their inner text). */
  readonly scripts: ReadonlyArray<readonly [number, number]>;
  /** The word follows `<<<`: it is the command's standard input, not an argument. */
  readonly hereString: boolean;
}

/** Characters that end a word and separate commands (newline included). */
const COMMAND_SEPARATORS = '|&;()\n';
/** Characters that end a word without ending the command (redirections). */
const WORD_SEPARATORS = ' \t\r<>';
/** Characters that start something other than plain text inside a word: quotes, escapes, substitutions. */
const WORD_SPECIALS = '\\\'"$`';

/**
 * CHAR_CLASS[c] for the ASCII codes: what the character is to the splitter. A table, not Set
 * lookups of one-character strings: a script argument of 4 KiB (sh -c …) is read a character at a
 * time, on every exec that has one.
 */
const PLAIN = 0;
const WORD_SEPARATOR = 1;
const COMMAND_SEPARATOR = 2;
const SPECIAL = 3;
const CHAR_CLASS = new Uint8Array(128);
for (const c of WORD_SEPARATORS) CHAR_CLASS[c.charCodeAt(0)] = WORD_SEPARATOR;
for (const c of COMMAND_SEPARATORS) CHAR_CLASS[c.charCodeAt(0)] = COMMAND_SEPARATOR;
for (const c of WORD_SPECIALS) CHAR_CLASS[c.charCodeAt(0)] = SPECIAL;
function charClass(code: number): number {
  return code < 128 ? (CHAR_CLASS[code] as number) : PLAIN;
}

const ANSI_C_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };

/** Is `text` one word of plain characters only (no blank, separator, quote, escape or substitution): its own value, the only word of the only command? */
export function isPlainWord(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (charClass(text.charCodeAt(i)) !== PLAIN) return false;
  return true;
}

/** The simple commands of a line, each as its words, in order. */
export function splitCommands(line: string): Word[][] {
  return splitCommandsUpTo(line, Infinity).commands;
}

/**
 * The first `max` simple commands of a line, and where the text after them starts (the line's
 * length when there are no more): the rest is not read at all.
 */
export function splitCommandsUpTo(line: string, max: number): { commands: Word[][]; end: number } {
  const commands: Word[][] = [];
  let current: Word[] = [];
  const n = line.length;
  let i = 0;
  let hereString = false;
  while (i < n) {
    const kind = charClass(line.charCodeAt(i));
    if (kind === WORD_SEPARATOR && (line.charCodeAt(i) === 60 || line.charCodeAt(i) === 62) && line.charCodeAt(i + 1) === 40) {
      // <(…) and >(…), process substitution: one word (a file name to the program), its text a script.
      const [inner, after] = readParenthesised(line, i + 2);
      current.push({ start: i, end: after, value: line.slice(i, after), doubleQuoted: false, scripts: [inner], hereString });
      hereString = false;
      i = after;
      continue;
    }
    if (kind === WORD_SEPARATOR) {
      if (line.charCodeAt(i) === 60 && line.startsWith('<<<', i)) {
        hereString = true;
        i += 3;
      } else i++;
      continue;
    }
    if (kind === COMMAND_SEPARATOR) {
      if (current.length > 0) commands.push(current);
      if (commands.length >= max) return { commands, end: i + 1 };
      current = [];
      hereString = false;
      i++;
      continue;
    }
    const word = readWord(line, i, hereString);
    hereString = false;
    current.push(word);
    i = word.end;
  }
  if (current.length > 0) commands.push(current);
  return { commands, end: n };
}

function readWord(line: string, start: number, hereString: boolean): Word {
  const n = line.length;
  let i = start;
  let value = '';
  const scripts: Array<[number, number]> = [];
  let segments = 0;
  let doubleQuotedOnly = true;
  while (i < n) {
    const kind = charClass(line.charCodeAt(i));
    if (kind === WORD_SEPARATOR || kind === COMMAND_SEPARATOR) break;
    segments++;
    if (kind === PLAIN) {
      // A run of plain characters, added in one piece.
      let j = i + 1;
      while (j < n && charClass(line.charCodeAt(j)) === PLAIN) j++;
      value += line.slice(i, j);
      i = j;
      doubleQuotedOnly = false;
      continue;
    }
    const c = line[i] as string;
    if (c === '\\') {
      // A backslash-newline is a line continuation; otherwise the next character is literal.
      if (line[i + 1] !== '\n') value += line[i + 1] ?? '';
      i += 2;
      doubleQuotedOnly = false;
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      const stop = close < 0 ? n : close;
      value += line.slice(i + 1, stop);
      i = stop + 1;
      doubleQuotedOnly = false;
    } else if (c === '$' && line[i + 1] === "'") {
      i = readAnsiC(line, i + 2, (s) => { value += s; });
      doubleQuotedOnly = false;
    } else if (c === '"') {
      i = readDoubleQuoted(line, i + 1, (s) => { value += s; }, scripts);
    } else if ((c === '$' && line[i + 1] === '(') || c === '`') {
      const [inner, after] = c === '`' ? readBackquoted(line, i + 1) : readParenthesised(line, i + 2);
      scripts.push(inner);
      value += line.slice(i, after);
      i = after;
      doubleQuotedOnly = false;
    } else {
      value += c; // a $ that starts no substitution
      i++;
      doubleQuotedOnly = false;
    }
  }
  return { start, end: Math.min(i, n), value, doubleQuoted: doubleQuotedOnly && segments === 1 && line[start] === '"', scripts, hereString };
}

/** Reads "…" from just after the opening quote; returns the index after the closing quote. */
function readDoubleQuoted(line: string, from: number, add: (s: string) => void, scripts: Array<[number, number]>): number {
  const n = line.length;
  let i = from;
  let chunk = '';
  while (i < n) {
    const code = line.charCodeAt(i);
    if (code !== 34 && code !== 92 && code !== 36 && code !== 96) {
      // Up to the next " \ $ or `, in one piece.
      let j = i + 1;
      for (let d = line.charCodeAt(j); j < n && d !== 34 && d !== 92 && d !== 36 && d !== 96; d = line.charCodeAt(++j));
      chunk += line.slice(i, j);
      i = j;
      continue;
    }
    const c = line[i] as string;
    if (c === '"') {
      add(chunk);
      return i + 1;
    }
    if (c === '\\' && i + 1 < n && '"\\$`\n'.includes(line[i + 1] as string)) {
      if (line[i + 1] !== '\n') chunk += line[i + 1];
      i += 2;
    } else if ((c === '$' && line[i + 1] === '(') || c === '`') {
      const [inner, after] = c === '`' ? readBackquoted(line, i + 1) : readParenthesised(line, i + 2);
      scripts.push(inner);
      chunk += line.slice(i, after);
      i = after;
    } else {
      chunk += c;
      i++;
    }
  }
  add(chunk);
  return n;
}

function readAnsiC(line: string, from: number, add: (s: string) => void): number {
  const n = line.length;
  let i = from;
  let chunk = '';
  while (i < n) {
    const c = line[i] as string;
    if (c === "'") {
      add(chunk);
      return i + 1;
    }
    if (c === '\\' && i + 1 < n) {
      const e = line[i + 1] as string;
      const hex = e === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(line.slice(i + 2, i + 4)) : null;
      if (hex) {
        chunk += String.fromCharCode(parseInt(hex[0], 16));
        i += 2 + hex[0].length;
      } else {
        chunk += ANSI_C_ESCAPES[e] ?? `\\${e}`;
        i += 2;
      }
    } else {
      chunk += c;
      i++;
    }
  }
  add(chunk);
  return n;
}

/** From just after `$(`: the inner range and the index after the matching `)`. */
function readParenthesised(line: string, from: number): [[number, number], number] {
  const n = line.length;
  let depth = 1;
  let i = from;
  while (i < n) {
    const c = line[i] as string;
    if (c === '\\') i += 2;
    else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      i = close < 0 ? n : close + 1;
    } else if (c === '"') {
      i = readDoubleQuoted(line, i + 1, () => undefined, []);
    } else if (c === '(') {
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      if (depth === 0) return [[from, i], i + 1];
      i++;
    } else i++;
  }
  return [[from, n], n];
}

function readBackquoted(line: string, from: number): [[number, number], number] {
  let i = from;
  while (i < line.length) {
    if (line[i] === '\\') i += 2;
    else if (line[i] === '`') return [[from, i], i + 1];
    else i++;
  }
  return [[from, line.length], line.length];
}

/** Writes `value` back as one shell word, quoting only when needed. */
export function quoteWord(value: string, preferDouble: boolean): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./*~^-]+$/.test(value)) return value;
  if (preferDouble && !/["\\$`]/.test(value)) return `"${value}"`;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
