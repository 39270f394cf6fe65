/**
 * Real network activity for kernel tests: a process with a known pid that
 * connects (tcpctl.py), listeners, and network namespaces with nftables rules
 * for SYN drops. Everything stays on loopback or inside namespaces we create.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
// dist/test/helpers -> the repo's test/helpers holds the python script
export const TCPCTL = path.resolve(__dirname, '../../../test/helpers/tcpctl.py');

export interface ConnectResult {
  sport: number;
  ok: boolean;
  errno: number;
  seconds: number;
}
export interface ConnectRun {
  pid: number;
  results: ConnectResult[];
}

export interface ConnectOptions {
  count?: number;
  parallel?: boolean;
  syncnt?: number;
  timeoutSeconds?: number;
  abandon?: boolean;
  /** One plain blocking connect(2) (the default is Python's timeout mode: non-blocking + poll). */
  blocking?: boolean;
  netns?: string;
}

export async function connect(host: string, port: number, opts: ConnectOptions = {}): Promise<ConnectRun> {
  const args = [TCPCTL, 'connect', host, String(port), '--count', String(opts.count ?? 1), '--timeout', String(opts.timeoutSeconds ?? 10)];
  if (opts.parallel) args.push('--parallel');
  if (opts.syncnt) args.push('--syncnt', String(opts.syncnt));
  if (opts.abandon) args.push('--abandon');
  if (opts.blocking) args.push('--blocking');
  const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, 'python3', ...args]] : ['python3', args];
  const { stdout } = await execFileP(cmd, argv as string[], { timeout: 120_000 });
  return JSON.parse(stdout) as ConnectRun;
}

export interface Listener {
  port: number;
  stop(): void;
}

/** A listener in a separate process (so its accepts are not ours), optionally in a namespace. */
export async function listen(host: string, port: number, netns?: string): Promise<Listener> {
  const args = [TCPCTL, 'listen', host, String(port)];
  const child: ChildProcess = netns
    ? spawn('ip', ['netns', 'exec', netns, 'python3', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn('python3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`listener on ${host}:${port} did not start`)), 10_000);
    child.stdout?.once('data', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`listener exited with ${code}`)); });
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

/** A free TCP port on loopback (bound then released). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Two namespaces joined by a veth pair: a client host and a server host with
 * IPv4 and IPv6 addresses of our own (never routed anywhere else).
 */
export class VethPair {
  private constructor(
    readonly client: NetNs,
    readonly server: NetNs,
  ) {}

  static readonly CLIENT_V4 = '10.231.0.1';
  static readonly SERVER_V4 = '10.231.0.2';
  static readonly CLIENT_V6 = 'fd00:231::1';
  static readonly SERVER_V6 = 'fd00:231::2';

  static create(): VethPair {
    const client = NetNs.create('eoc');
    const server = NetNs.create('eos');
    const suffix = `${process.pid % 100000}`;
    const a = `eoa${suffix}`;
    const b = `eob${suffix}`;
    try {
      execFileSync('ip', ['link', 'add', a, 'netns', client.name, 'type', 'veth', 'peer', 'name', b, 'netns', server.name]);
      const setup = (ns: NetNs, dev: string, v4: string, v6: string): void => {
        execFileSync('ip', ['-n', ns.name, 'addr', 'add', `${v4}/24`, 'dev', dev]);
        execFileSync('ip', ['-n', ns.name, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
        execFileSync('ip', ['-n', ns.name, 'link', 'set', dev, 'up']);
      };
      setup(client, a, VethPair.CLIENT_V4, VethPair.CLIENT_V6);
      setup(server, b, VethPair.SERVER_V4, VethPair.SERVER_V6);
    } catch (err) {
      client.dispose();
      server.dispose();
      throw err;
    }
    return new VethPair(client, server);
  }

  dispose(): void {
    this.client.dispose();
    this.server.dispose();
  }
}

/** A network namespace with loopback up, removed by dispose(). */
export class NetNs {
  private constructor(readonly name: string) {}

  static create(prefix = 'eotest'): NetNs {
    const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    execFileSync('ip', ['netns', 'add', name]);
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return new NetNs(name);
  }

  exec(cmd: string, args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], { encoding: 'utf8' });
  }

  /** Drops outgoing SYNs (not SYN-ACKs) to `port` inside the namespace; returns a function that removes the rule. */
  dropSyns(port: number): () => void {
    const script = [
      'table inet eotest {',
      '  chain out {',
      '    type filter hook output priority 0; policy accept;',
      `    tcp dport ${port} tcp flags & (syn|ack) == syn counter drop`,
      '  }',
      '}',
    ].join('\n');
    execFileSync('ip', ['netns', 'exec', this.name, 'nft', '-f', '-'], { input: script });
    return () => {
      try {
        execFileSync('ip', ['netns', 'exec', this.name, 'nft', 'delete', 'table', 'inet', 'eotest'], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    };
  }

  /** SYNs dropped so far by the dropSyns() rule (its nft counter). */
  synsDropped(): number {
    const out = execFileSync('ip', ['netns', 'exec', this.name, 'nft', 'list', 'table', 'inet', 'eotest'], { encoding: 'utf8' });
    return Number(/counter packets (\d+)/.exec(out)?.[1] ?? 0);
  }

  /** Answers outgoing SYNs to `port` with an ICMP error (host-unreachable, net-unreachable...); returns the undo. */
  rejectSyns(port: number, icmpType: 'host-unreachable' | 'net-unreachable' | 'tcp-reset'): () => void {
    const table = `eoreject${port}`;
    const script = [
      `table ip ${table} {`,
      '  chain out {',
      '    type filter hook output priority 0; policy accept;',
      `    tcp dport ${port} tcp flags & (syn|ack) == syn reject with ${icmpType === 'tcp-reset' ? 'tcp reset' : `icmp type ${icmpType}`}`,
      '  }',
      '}',
    ].join('\n');
    execFileSync('ip', ['netns', 'exec', this.name, 'nft', '-f', '-'], { input: script });
    return () => {
      try {
        execFileSync('ip', ['netns', 'exec', this.name, 'nft', 'delete', 'table', 'ip', table], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    };
  }

  /** Inode of the namespace (what the kernel reports as the socket's netns). */
  inode(): number {
    return Number(execFileSync('stat', ['-L', '-c', '%i', `/run/netns/${this.name}`], { encoding: 'utf8' }).trim());
  }

  dispose(): void {
    try {
      execFileSync('ip', ['netns', 'delete', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
