/**
 * A private resolver for the dns tests, leaving the machine's own untouched:
 * Debian's dnsmasq answering on a loopback address of its own
 * (127.53.x.y:53), and programs run in a private mount namespace
 * (`unshare -m`) where /etc/resolv.conf and /etc/hosts are bind-mounted
 * copies pointing at it. Dropping the first query (the "slow answer" case)
 * uses an nftables table of our own, deleted at stop.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface DnsLabOptions {
  /** name -> IPv4 address, served by dnsmasq (A records). */
  records: Record<string, string>;
  /** name -> address, in the namespace's /etc/hosts. */
  hosts: Record<string, string>;
  /** Domain dnsmasq answers for itself: other names in it are NXDOMAIN. */
  domain: string;
}

export class DnsLab {
  readonly server: string;
  readonly nftTable: string;
  private readonly dir: string;
  private readonly resolvConf: string;
  private readonly hostsFile: string;
  private dnsmasq: ChildProcess | undefined;
  private log = '';

  private constructor(opts: DnsLabOptions) {
    const n = process.pid % 65_000;
    this.server = `127.53.${(n >> 8) & 0xff}.${(n & 0xff) || 1}`;
    this.nftTable = `ebpf_otel_dns_${process.pid}`;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'ebpf-otel-dns-'));
    this.resolvConf = path.join(this.dir, 'resolv.conf');
    this.hostsFile = path.join(this.dir, 'hosts');
    // timeout:1 so a dropped query is retried after one second.
    writeFileSync(this.resolvConf, `nameserver ${this.server}\noptions timeout:1 attempts:3\n`);
    writeFileSync(this.hostsFile, ['127.0.0.1 localhost', ...Object.entries(opts.hosts).map(([n, a]) => `${a} ${n}`), ''].join('\n'));
  }

  static async start(opts: DnsLabOptions): Promise<DnsLab> {
    const lab = new DnsLab(opts);
    const args = [
      '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--log-facility=-', '--log-queries',
      `--pid-file=${path.join(lab.dir, 'dnsmasq.pid')}`, '--bind-interfaces', `--listen-address=${lab.server}`, '--port=53',
      '--user=root', `--local=/${opts.domain}/`, '--cache-size=0',
      ...Object.entries(opts.records).map(([n, a]) => `--host-record=${n},${a}`),
    ];
    const child = spawn('dnsmasq', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    lab.dnsmasq = child;
    const collect = (d: Buffer): void => { lab.log += d.toString(); };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dnsmasq did not start:\n${lab.log}`)), 10_000);
      const check = (): void => {
        if (/started, version/.test(lab.log)) { clearTimeout(timer); resolve(); }
      };
      child.stderr?.on('data', check);
      child.stdout?.on('data', check);
      child.once('error', (err) => { clearTimeout(timer); reject(new Error(`dnsmasq could not run (install it: scripts/bootstrap.sh test): ${err.message}`)); });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`dnsmasq exited with ${code}:\n${lab.log}`)); });
    });
    return lab;
  }

  /** dnsmasq's own log (queries it answered, with --log-queries). */
  dnsmasqLog(): string {
    return this.log;
  }

  /** argv that runs `argv` in a private mount namespace with our resolv.conf and hosts. */
  wrap(argv: string[]): string[] {
    return [
      'unshare', '-m', 'sh', '-c',
      'mount --bind "$0" /etc/resolv.conf && mount --bind "$1" /etc/hosts && shift && exec "$@"',
      this.resolvConf, this.hostsFile, ...argv,
    ];
  }

  /**
   * Runs `argv` in the namespace. Asynchronous on purpose: the test's event
   * loop keeps reading the agent's stdout meanwhile (a blocked pipe would
   * stall the agent). A non-zero exit is returned, not thrown.
   */
  run(argv: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const [cmd, ...rest] = this.wrap(argv);
    return new Promise((resolve, reject) => {
      const child = spawn(cmd as string, rest, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  }

  /**
   * Drops the next UDP query to the server (once), in our own nftables table.
   * On input, not output: a drop on output fails the sender's sendmsg() with
   * EPERM and glibc retries at once; dropped on arrival, the query is lost
   * the way a lost packet is, and the resolver waits for its timeout.
   */
  dropNextQuery(): void {
    this.dropQueries('limit rate 1/hour burst 1 packets ');
  }

  /** Drops every UDP query to the server until clearDrop(): the resolver times out. */
  dropAllQueries(): void {
    this.dropQueries('');
  }

  private dropQueries(match: string): void {
    const nft = (script: string): void => { execFileSync('nft', ['-f', '-'], { input: script }); };
    this.clearDrop();
    nft(`table inet ${this.nftTable} {
  chain in {
    type filter hook input priority 0; policy accept;
    ip daddr ${this.server} udp dport 53 ${match}counter drop
  }
}
`);
  }

  clearDrop(): void {
    try {
      execFileSync('nft', ['delete', 'table', 'inet', this.nftTable], { stdio: 'ignore' });
    } catch {
      // not there
    }
  }

  stop(): void {
    this.clearDrop();
    this.dnsmasq?.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
