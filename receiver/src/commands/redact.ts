/**
 * Secret redaction for command lines and argument lists, applied before
 * anything leaves the agent. Over-redaction is the safe failure: `ssh -p 22`
 * loses its port, a password never leaks.
 *
 * Redacted:
 * - the value after secret-looking flags: -p, --password, --passwd, --pass,
 *   --token, --secret, --api-key, --apikey, --access-token, --auth,
 *   --client-secret (as `--flag value` or `--flag=value`);
 * - KEY=value where KEY looks secret (contains PASS, PWD, SECRET, TOKEN, KEY,
 *   AUTH, CREDENTIAL, case-insensitive);
 * - the password of URLs with credentials (scheme://user:password@host);
 * - Authorization header values (-H 'Authorization: Bearer ...');
 * - whatever the user's patterns match.
 */
export const REDACTED = '****';

const SECRET_FLAG = /^(?:-p|--pass(?:word|wd)?|--token|--secret|--api-?key|--access-?token|--auth(?:-token)?|--client-secret|--private-key)$/i;
const SECRET_FLAG_INLINE = /^(--pass(?:word|wd)?|--token|--secret|--api-?key|--access-?token|--auth(?:-token)?|--client-secret|--private-key)=(.*)$/is;
const SECRET_NAME = /(pass|pwd|secret|token|key|auth|credential)/i;
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s:@/'"]*:)([^\s@/'"]+)@/gi;
const AUTH_HEADER = /((?:proxy-)?authorization:\s*(?:bearer|basic|token|digest)?\s*)([^\s'"]+)/gi;

export interface Redactor {
  readonly enabled: boolean;
  args(args: readonly string[]): string[];
  line(line: string): string;
}

/**
 * Host names are not secrets by default: only the user's own patterns
 * (--redact-pattern) rewrite them, and nothing does with --no-redact.
 */
export function createNameRedactor(enabled: boolean, userPatterns: readonly RegExp[] = []): (name: string) => string {
  const patterns = userPatterns.map((p) => new RegExp(p.source, p.flags.includes('g') ? p.flags : `${p.flags}g`));
  if (!enabled || patterns.length === 0) return (name) => name;
  return (name) => patterns.reduce((out, p) => out.replace(p, REDACTED), name);
}

export function createRedactor(enabled: boolean, userPatterns: readonly RegExp[] = []): Redactor {
  const patterns = userPatterns.map((p) => new RegExp(p.source, p.flags.includes('g') ? p.flags : `${p.flags}g`));
  const common = (text: string): string => {
    let out = text.replace(URL_CREDENTIALS, `$1${REDACTED}@`).replace(AUTH_HEADER, `$1${REDACTED}`);
    for (const p of patterns) out = out.replace(p, REDACTED);
    return out;
  };
  const word = (arg: string, previous: string | undefined): string => {
    if (previous !== undefined && SECRET_FLAG.test(previous)) return REDACTED;
    const inline = SECRET_FLAG_INLINE.exec(arg);
    if (inline) return `${inline[1]}=${REDACTED}`;
    const assignment = ASSIGNMENT.exec(arg);
    if (assignment && SECRET_NAME.test(assignment[1] as string)) return `${assignment[1]}=${REDACTED}`;
    return common(arg);
  };
  return {
    enabled,
    args(args) {
      if (!enabled) return [...args];
      return args.map((a, i) => word(a, i > 0 ? args[i - 1] : undefined));
    },
    line(line) {
      if (!enabled) return line;
      // Shell words with their quotes kept, so the line reads as typed.
      const tokens = line.match(/(?:[^\s"']+|"(?:\\.|[^"\\])*"?|'[^']*'?)+|\s+/g) ?? [];
      let previous: string | undefined;
      return tokens
        .map((token) => {
          if (/^\s+$/.test(token)) return token;
          const unquoted = token.replace(/^(["'])(.*)\1$/s, '$2');
          let out: string;
          if (previous !== undefined && SECRET_FLAG.test(previous)) out = REDACTED;
          else {
            const inline = SECRET_FLAG_INLINE.exec(token);
            const assignment = ASSIGNMENT.exec(token);
            if (inline) out = `${inline[1]}=${REDACTED}`;
            else if (assignment && SECRET_NAME.test(assignment[1] as string)) out = `${assignment[1]}=${REDACTED}`;
            else out = common(token);
          }
          previous = unquoted;
          return out;
        })
        .join('');
    },
  };
}
