/**
 * The agent's Node flags have one source, the #! line of receiver/src/cli.ts (receiver/src/node-flags.ts);
 * the copies that cannot read it must say the same.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { shebangNodeFlags } from '../receiver/src/node-flags';

const ROOT = path.resolve(__dirname, '../..');
const flags = shebangNodeFlags(path.join(ROOT, 'dist/receiver/src/cli.js'));

describe('the agent\'s Node flags', () => {
  it('the built cli.js keeps the #! line of cli.ts', () => {
    assert.deepEqual(flags, shebangNodeFlags(path.join(ROOT, 'receiver/src/cli.ts')));
    assert.ok(flags.includes('--disable-sigusr1'), 'privileges.ts needs --disable-sigusr1');
  });

  it('npm start passes the same flags', () => {
    const start = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'] ?? '';
    assert.ok(start.includes(`scripts/node.sh ${flags.join(' ')} dist/receiver/src/cli.js`), start);
  });

  it('the Kubernetes DaemonSet passes the same flags', () => {
    const yaml = readFileSync(path.join(ROOT, 'deploy/kubernetes/agent-daemonset.yaml'), 'utf8');
    const command = /^\s*command: (\[.*\])$/m.exec(yaml);
    assert.ok(command, 'the DaemonSet has a command line');
    assert.deepEqual(JSON.parse(command[1] as string), ['scripts/node.sh', ...flags, 'dist/receiver/src/cli.js']);
  });
});
