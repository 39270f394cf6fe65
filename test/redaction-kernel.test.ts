/**
 * Redaction with everything real: the secret corpus (test/helpers/secret-corpus.ts)
 * typed into an interactive bash in tmux with the exec and bash probes
 * running, then run again as argv (`bash -c 'LINE'` typed, so the line reaches
 * the kernel as the argv of a non-interactive bash and of its children), with
 * stub programs for the tools (so nothing connects anywhere or mounts
 * anything). Everything the agent emits is searched for the secrets: the
 * jsonl spans on stdout, its log, and the spans and metrics a real
 * Collector received over OTLP. The non-secret words must stay readable, and
 * a password pasted at the prompt names nothing.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRedactor } from '../receiver/src/commands/redact';
import { quoteWord } from '../receiver/src/commands/shell-words';
import { NOT_RUN } from '../receiver/src/commands/tracer';
import { attrs, startAgent, type AgentRun } from './helpers/agent';
import { ensureBackends, flattenMetrics, startCollector, waitFor, type CollectorHandle } from './helpers/backends';
import { PASTED_SECRET, SECRET_CORPUS } from './helpers/secret-corpus';
import { TmuxShell } from './helpers/tmux';

const STUBS = [
  '7z', 'app', 'aws', 'az', 'chpasswd', 'cli', 'curl', 'docker', 'gh', 'git', 'gpg', 'htpasswd', 'http', 'java', 'jq', 'keytool', 'kubectl', 'ldapsearch', 'mongosh',
  'mount', 'mysql', 'mysqldump', 'npm', 'openssl', 'psql', 'redis-cli', 'scp', 'slack-post', 'smbclient', 'ssh', 'sshpass', 'su', 'sudo', 'tool',
  'vault', 'wget', 'migrate.sh', 'run', 'ssh-keygen', 'useradd', 'mosquitto_pub', 'rabbitmqctl', 'sqlplus',
  'doctl', 'cargo', 'composer', 'dotnet', 'consul',
  'oc', 'twine', 'nmcli', 'xfreerdp', 'mc', 'lftp', 'wpa_passphrase', 'db2', 'rabbitmqadmin', 'mysqladmin', 'rclone',
  'skopeo', 'cqlsh', 'poetry', 'openvpn', 'wg', 'kinit',
  'rsync', 'glab',
  'etcdctl', 'ipmitool', 'mysqlsh', 'rman', 'isql', 'neo4j-admin', 'cypher-shell', 'yt-dlp', 'transmission-remote', 'snmpwalk', 'hydra', 'bw',
  'mkpasswd', 'kadmin', 'pulumi', 'passwd', 'plink', 'pscp', 'vncpasswd', 'grafana-cli',
  'ruby', 'perl', 'php', 'python3', 'find', 'screen', 'at', 'crontab', 'ssh-add', 'qpdf',
  'ngrok', 'doppler', 'cosign', 'ansible-vault', 'kubeseal', 'expect',
  'valkey-cli', 'wp', 'django-admin', 'elasticsearch-keystore',
  'restic', 'beeline', 'cryptsetup',
  'otelcol', 'telemetrygen', 'netlify', 'bws', 'influx', 'gopass',
  'npx', 'ftp', 'fish', 'setenv', 'ab', 'pkcs11-tool', 'oathtool', 'rar', 'unrar', 'snmpget', 'keepassxc-cli', 'op', 'go', 'doveadm', 'slappasswd',
  'pdsh', 'salt', 'ansible', 'systemd-run', 'evil-winrm', 'impacket-psexec', 'kubeadm', 'openconnect',
  'hatch', 'bundle', 'racadm', 'pwsh', 'zkCli.sh', 'llm',
  'mosquitto_passwd', 'initdb', 'cf', 'crudini', 'sops',
  'check_http', 'check_mysql', 'tailscale',
  'drone', 'age', 'mysql8',
  'vsql', 'sendemail', 'pppd', 'parallel', 'xmlstarlet', 'microk8s', 'civo', 'terraform', 'hcloud', 'p4', 'cvs',
  'msmtp', 'duckdb', 'medusa', 'nikto', 'tccli', 'cbq',
  'valgrind', 'gdb', 'perf', 'bwrap', 'aws-vault', 'uv', 'lxc', 'script', 'vagrant', 'sqlpackage', 'borg', 'dropdb',
  'vsce', 'conan', 'sonar-scanner', 'snyk',
  'caddy', 'ccrypt', 'smbmap',
  'vmrun', 'qemu-system-x86_64', 'hostapd_cli', 'emqx', 'xe', 'esxcli',
  'hdbsql', 'tbsql', 'teleport', 'cfssl',
  'b2', 'mega-login', 'wandb', 'ttyd', 'twilio', 'dvc', 'syncthing',
  'gitea', 'airflow', 'drush', 'ejabberdctl', 'odoo', 'register_new_matrix_user',
  'pdm', 'xcrun', 'kube-apiserver', 'etcd',
];
const ALL_SECRETS = [...SECRET_CORPUS.flatMap((c) => c.secrets), PASTED_SECRET];

describe('redaction in the real kernel: typed and as argv', { timeout: 240_000 }, () => {
  const service = `eo-redaction-${process.pid}`;
  let dir: string;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let shell: TmuxShell;

  before(async () => {
    ensureBackends();
    dir = mkdtempSync(path.join(tmpdir(), 'eo-redact-'));
    for (const name of STUBS) {
      writeFileSync(path.join(dir, name), '#!/bin/sh\nexit 0\n');
      chmodSync(path.join(dir, name), 0o755);
    }
    collector = await startCollector({});
    agent = startAgent(
      ['--exporter', 'otlp,jsonl', '--probes', 'exec,bash', '--max-spans-per-second', '0',
        '--otlp-endpoint', collector.endpoints.otlpGrpc, '--metric-interval-ms', '1000'],
      { OTEL_SERVICE_NAME: service },
    );
    await agent.waitForStderr(/running/);
    shell = TmuxShell.start('eo-redact', `env PATH=${dir}:/usr/bin:/bin bash --norc --noprofile`);
    await shell.waitForPrompt();
    shell.type(`cd ${dir}`);
  });

  after(async () => {
    shell?.kill();
    if (agent) await agent.stop();
    await collector?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('typed: every line is a span, readable, without its secrets; a pasted password names nothing', async () => {
    for (const c of SECRET_CORPUS) shell.type(c.line);
    // Pasted as a person pastes: through the terminal's paste buffer, loaded from a file.
    writeFileSync(path.join(dir, 'clipboard'), PASTED_SECRET);
    shell.tmux('load-buffer', path.join(dir, 'clipboard'));
    shell.tmux('paste-buffer', '-t', 't');
    shell.keys('Enter');
    shell.type('echo TYPED-DONE');
    await shell.waitFor(/^TYPED-DONE$/m, 60_000);
    await agent.waitForJson((s) => attrs(s)['process.command_line'] === 'echo TYPED-DONE', 30_000);
    const roots = agent.jsonLines().filter((s) => s.parentSpanId === undefined && attrs(s)['process.pid'] === shell.pid);
    const redactor = createRedactor(true);
    for (const c of SECRET_CORPUS) {
      const expected = redactor.line(c.line);
      const root = roots.find((s) => attrs(s)['process.command_line'] === expected);
      assert.ok(root, `no command span for ${JSON.stringify(c.line)} (expected ${JSON.stringify(expected)})`);
      for (const k of c.keep) assert.ok(expected.includes(k), `${k} unreadable in ${expected}`);
    }
    const pasted = roots.find((s) => s.name === NOT_RUN && attrs(s)['process.exit.code'] === 127);
    assert.ok(pasted, `the pasted password's span, named ${NOT_RUN}`);
    assert.equal(attrs(pasted)['process.command_line'], '****');
  });

  it('as argv: bash -c LINE for every line', async () => {
    for (const c of SECRET_CORPUS) if (!c.typedOnly) shell.type(`bash -c ${quoteWord(c.line, false)}`);
    shell.type('./run ARGV-DONE; echo ARGV-DONE');
    await shell.waitFor(/^ARGV-DONE$/m, 60_000);
    await agent.waitForJson((s) => (attrs(s)['process.command_args'] as string[] | undefined)?.includes('ARGV-DONE') === true, 30_000);
    // bash -c's own argv carries the line: redacted as a script.
    const bashC = agent.jsonLines().filter((s) => s.name === 'bash' && (attrs(s)['process.command_args'] as string[] | undefined)?.[1] === '-c');
    assert.ok(bashC.length >= SECRET_CORPUS.filter((c) => !c.typedOnly).length, `bash -c processes: ${bashC.length}`);
    // The argv of a stub as the kernel read it, redacted: e.g. mysql's.
    const mysql = agent.jsonLines().find((s) => s.name === 'mysql' && JSON.stringify(attrs(s)['process.command_args']).includes('shop'));
    assert.ok(mysql, 'a mysql process span');
  });

  it('no secret anywhere: spans, log, and what the Collector received (span and metric attributes)', async () => {
    await waitFor(
      async () => flattenMetrics(collector.readMetrics()).filter((p) => p.resource['service.name'] === service && p.name === 'ebpf_otel.commands'),
      (points) => points.some((p) => p.attributes['ebpf_otel.command.name'] === NOT_RUN),
      { timeoutMs: 20_000, what: `ebpf_otel.commands{${NOT_RUN}}` },
    );
    await waitFor(async () => readFileSync(collector.tracesFile, 'utf8'), (t) => t.includes('TYPED-DONE'), { timeoutMs: 20_000, what: 'traces at the collector' });
    const outputs: Record<string, string> = {
      'agent stdout (jsonl spans)': agent.stdout(),
      'agent log': agent.stderr(),
      'collector traces': readFileSync(collector.tracesFile, 'utf8'),
      'collector metrics': readFileSync(collector.metricsFile, 'utf8'),
    };
    for (const [where, text] of Object.entries(outputs)) {
      const leaked = ALL_SECRETS.filter((s) => text.includes(s));
      const lines = text.split('\n').filter((l) => leaked.some((s) => l.includes(s))).slice(0, 5);
      assert.deepEqual(leaked, [], `secrets in ${where}:\n${lines.map((l) => l.slice(0, 1500)).join('\n')}`);
    }
    const names = new Set(flattenMetrics(collector.readMetrics()).filter((p) => p.name === 'ebpf_otel.commands' && p.resource['service.name'] === service).map((p) => String(p.attributes['ebpf_otel.command.name'])));
    assert.ok(names.has('mysql') && names.has('export') && names.has(NOT_RUN), [...names].join(','));
  });
});
