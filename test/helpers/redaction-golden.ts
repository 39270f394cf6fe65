/**
 * Redaction's output pinned down by digest: a fixed set of cases (the secret
 * corpus word by word and as lines, the long-argv benchmark's argv, hostile
 * 4 KiB words, 20,000 generated argument lists) run through a redactor, and a
 * SHA-256 prefix of each case's output (generated lists in blocks of 100).
 * test/fixtures/redaction-golden.json holds the digests of the rules as they
 * were before the fast paths (commit 18dce12); test/unit-redact.test.ts checks
 * the current rules give the same. Kept as digests, not as a second copy of
 * the rules: one source of truth for the code.
 *
 * A rule changed on purpose: rewrite the file from the new rules with
 *   scripts/node.sh dist/test/helpers/redaction-golden.js --write
 * and say in the commit which cases changed (the test names them).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileUserPattern } from '../../receiver/src/commands/patterns';
import { createRedactor, type Redactor } from '../../receiver/src/commands/redact';
import { splitCommands } from '../../receiver/src/commands/shell-words';
import { SECRET_CORPUS } from './secret-corpus';
import { seededRandom } from './seeded';

export const GOLDEN_FILE = path.resolve(__dirname, '../../../test/fixtures/redaction-golden.json');

/** Pieces that start, end or break every rule, glued at random into words by the generated cases. */
export const RULE_PIECES: readonly string[] = [
  '--password', '--token', '-p', '-u', '-a', '-H', '-D', '--user', '-c', 'pass:', 'env:', 'password', 'api_key', 'DB_PASSWORD', 'user', 'session', 'Authorization', 'X-Api-Key',
  'Bearer ', 'basic ', '=', '==', ':=', ':', '://', '@', '/', '?', '#', '&', ',', ';', '}', '{', '"', "'", ' ', '\t', '\n', '$', '$(', ')', '`', '\\',
  'ghp_', 'github_pat_', 'glpat-', 'xoxb-', 'sk_live_', 'sk-', 'AKIA', 'AIza', 'npm_', 'hvs.', 'pypi-', 'eyJ', 'A1b2C3d4E5f6G7h8', 's3cr3tQz', 'x', '.', '-', '_', 'é', '\u202e',
  'mysql', 'curl', 'sshpass', 'redis-cli', 'openssl', 'git', 'aws', 'sh', 'sudo', 'env', 'ssh', 'http', 'htpasswd', 'docker', 'login', 'vault', 'config', 'set',
];

/** One case: a name that says where to look, and the argument lists it redacts (each also joined as a line). */
interface GoldenCase {
  name: string;
  argvs: string[][];
  lines: string[];
}

/** The redactor the digests are taken with: the defaults plus one user pattern. */
export function goldenRedactor(): Redactor {
  return createRedactor(true, [compileUserPattern('sk_live_[A-Za-z0-9]+')]);
}

function* goldenCases(): Generator<GoldenCase> {
  for (const [i, c] of SECRET_CORPUS.entries()) {
    yield { name: `corpus ${i}: ${c.line}`, argvs: splitCommands(c.line).map((words) => words.map((w) => w.value)), lines: [c.line] };
  }
  const shapes = ['--password=', '-H', 'Authorization: Bearer ', 'DB_PASSWORD=', '--token=', 'user:', '--from-literal=api_key=', '-Djavax.net.ssl.keyStorePassword='];
  const benchArgv = ['/bin/true', ...Array.from({ length: 64 }, (_, i) => `${shapes[i % shapes.length] as string}${'s3cr3tQz'.repeat(8).slice(0, 62)}`)];
  yield { name: 'the long-argv benchmark argv (bench/exec_storm.c)', argvs: [benchArgv, benchArgv.join('\0').slice(0, 4096).split('\0')], lines: [] };
  const hostile = ['='.repeat(4096), 'a='.repeat(2048), ':'.repeat(4096), 'password:'.repeat(455), '://@'.repeat(1024), 'token=&'.repeat(585), 'ghp_'.repeat(1024), 'a;b=c&'.repeat(680), `Authorization: ${'x'.repeat(4000)}`];
  for (const [i, h] of hostile.entries()) yield { name: `hostile 4 KiB word ${i}: ${h.slice(0, 24)}…`, argvs: [['mysql', h, h], h.split(' ')], lines: [] };

  // Pieces that start, end or break every rule, glued at random into words (fixed seed: the same lists every run).
  const pieces = RULE_PIECES;
  const next = seededRandom(0x2545f491);
  for (let block = 0; block < 200; block++) {
    const argvs = Array.from({ length: 100 }, () =>
      Array.from({ length: 1 + next(6) }, () => Array.from({ length: 1 + next(8) }, () => pieces[next(pieces.length)] as string).join('')));
    yield { name: `generated argument lists ${block * 100}–${block * 100 + 99}`, argvs, lines: [] };
  }
}

/** Case name → digest of what the redactor makes of it (every argv, every argv joined as a line, every line). */
export function goldenDigests(redactor: Redactor): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const c of goldenCases()) {
    const hash = createHash('sha256');
    for (const argv of c.argvs) hash.update(JSON.stringify([redactor.args(argv), redactor.line(argv.join(' '))]));
    for (const line of c.lines) hash.update(JSON.stringify(redactor.line(line)));
    digests[c.name] = hash.digest('hex').slice(0, 16);
  }
  return digests;
}

if (require.main === module && process.argv.includes('--write')) {
  writeFileSync(GOLDEN_FILE, `${JSON.stringify(goldenDigests(goldenRedactor()), null, 1)}\n`);
  process.stdout.write(`wrote ${GOLDEN_FILE}\n`);
}
