/**
 * The Node flags the agent runs with. Their one source is the `#!` line of cli.ts (the `ebpf-otel`
 * command); the tests and the benchmarks read it from there, and test/unit-node-flags.test.ts
 * checks the copies that cannot read it (npm start, the DaemonSet's command) against it.
 * cli.ts says why each flag is there.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** This build's cli.js. */
export const CLI_FILE = path.join(__dirname, 'cli.js');

/** The Node flags a build's cli.js starts with: its `#!/usr/bin/env -S node FLAGS` line. */
export function shebangNodeFlags(cli: string = CLI_FILE): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!.*\bnode((?:\s+--\S+)*)\s*$/.exec(first);
  if (!match) throw new Error(`${cli}: no "#!... node --flags" line to take the Node flags from`);
  return (match[1] as string).trim().split(/\s+/).filter((f) => f.length > 0);
}
