/**
 * User redaction patterns (--redact-pattern), compiled by re2js, a
 * JavaScript port of RE2: matching is linear in the input whatever the
 * pattern, so a pattern cannot stall the agent on a hostile argument (V8's
 * own engine backtracks: `(a+)+$` on 4 KiB of `a` would never finish).
 * RE2 syntax has no backreferences and no lookaround; such patterns are
 * refused at start with the reason.
 */
import { RE2JS } from 're2js';

export interface UserPattern {
  readonly source: string;
  /** Every match replaced by `replacement`. */
  replace(text: string, replacement: string): string;
}

export class PatternError extends Error {}

export function compileUserPattern(source: string): UserPattern {
  if (source === '') throw new PatternError('the pattern is empty');
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source);
  } catch (err) {
    throw new PatternError(`${(err as Error).message} (patterns use RE2 syntax, matched in linear time: no backreferences, no lookahead or lookbehind)`);
  }
  if (compiled.matches('')) throw new PatternError('the pattern matches the empty string, so it would redact nothing useful and everywhere');
  return {
    source,
    // $ in the replacement would name a group: the replacement is a constant without one.
    replace: (text, replacement) => (text === '' ? text : compiled.matcher(text).replaceAll(replacement)),
  };
}
