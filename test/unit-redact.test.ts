import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRedactor } from '../receiver/src/commands/redact';

describe('secret redaction', () => {
  const r = createRedactor(true, [/sk_live_[A-Za-z0-9]+/]);
  const lines: Array<[string, string]> = [
    ['mysql -u root -p hunter2 db', 'mysql -u root -p **** db'],
    ['mysql --password=hunter2 db', 'mysql --password=**** db'],
    ['app --token "abc def" run', 'app --token **** run'],
    ['psql --passwd xyz', 'psql --passwd ****'],
    ['DB_PASSWORD=s3cret ./run.sh', 'DB_PASSWORD=**** ./run.sh'],
    ['export GITHUB_TOKEN=ghp_123', 'export GITHUB_TOKEN=****'],
    ['FOO=bar make', 'FOO=bar make'],
    ['curl https://bob:pa55@example.com/x', 'curl https://bob:****@example.com/x'],
    ["curl -H 'Authorization: Bearer eyJabc' https://x", "curl -H 'Authorization: Bearer ****' https://x"],
    ['stripe --key sk_live_abc123', 'stripe --key ****'],
    ['echo sk_live_zzz9', 'echo ****'],
    ['ls -la /tmp', 'ls -la /tmp'],
    ['multi\n--api-key k1', 'multi\n--api-key ****'],
  ];
  for (const [input, output] of lines) {
    it(`line: ${JSON.stringify(input)}`, () => assert.equal(r.line(input), output));
  }

  it('argument lists', () => {
    assert.deepEqual(r.args(['mysql', '-p', 'hunter2', '--password=x', 'TOKEN=y', 'https://a:b@h']), ['mysql', '-p', '****', '--password=****', 'TOKEN=****', 'https://a:****@h']);
  });

  it('can be switched off', () => {
    const off = createRedactor(false);
    assert.equal(off.line('mysql -p hunter2'), 'mysql -p hunter2');
    assert.deepEqual(off.args(['-p', 'x']), ['-p', 'x']);
  });
});
