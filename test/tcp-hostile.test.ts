/**
 * The TCP probe against a hostile local user (issue 9): an unprivileged user
 * holding 70,000+ connects half-open (SYNs dropped by nftables in a namespace
 * of our own, several processes since RLIMIT_NOFILE is capped at 20,000) must
 * not hide anybody else's connects, and a full histogram key table must not
 * make connects go uncounted.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import path from 'node:path';
import { BPF_NOEXIST } from '../addon/lib/index';
import { decodeTcpConnect, TcpOutcome, type TcpConnectEvent } from '../receiver/src/decode/tcp-connect';
import { TcpProbe } from '../receiver/src/probes/tcp';
import { decodeHistEntry, TCP_HIST_KEY_LAYOUT, TCP_HIST_VALUE_LAYOUT } from '../receiver/src/tcp/metrics';
import { connect, freePort, listen, NetNs, sleep, type Listener } from './helpers/net';

const BPF_DIR = path.resolve(__dirname, '../../build/bpf');
const HALFOPEN = path.resolve(__dirname, '../../test/helpers/halfopen.py');

function load(): TcpProbe {
  return TcpProbe.load(BPF_DIR, {
    filterTgid: 0,
    excludeTgid: 0,
    dport: 0,
    includeLoopback: true,
    perPeerHistogram: false,
    minLatencyNs: 0n,
  });
}

class Capture {
  readonly events: TcpConnectEvent[] = [];
  constructor(probe: TcpProbe) {
    probe.start((record) => this.events.push(decodeTcpConnect(record)), () => assert.fail('framing error'));
  }

  /** Waits until `pid` has `n` events (the ring buffer is drained every 50 ms). */
  async waitFor(pid: number, n: number, timeoutMs = 20_000): Promise<TcpConnectEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.filter((e) => e.pid === pid).length < n && Date.now() < deadline) await sleep(20);
    return this.events.filter((e) => e.pid === pid);
  }
}

/** Sum of a port's histogram counts, over outcomes. */
function histCount(probe: TcpProbe, dport: number): bigint {
  let n = 0n;
  for (const [k, v] of probe.histogramSource().entries()) {
    const e = decodeHistEntry(k, v);
    if (e.dport === dport) n += e.count;
  }
  return n;
}

interface Holder {
  child: ChildProcess;
  pending: number;
  errors: Record<string, number>;
}

/** Starts one unprivileged process (the script goes in as -c: nobody may not read our tree) holding `count` connects half-open; resolves once they are all started. */
function holdHalfOpen(ns: NetNs, port: number, count: number): Promise<Holder> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns.name, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c', readFileSync(HALFOPEN, 'utf8'), '127.0.0.1', String(port), String(count)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => {
      const { pending, errors } = JSON.parse(line) as { pending: number; errors: Record<string, number> };
      resolve({ child, pending, errors });
    });
    child.once('exit', (code) => reject(new Error(`halfopen.py exited with ${code} before reporting`)));
  });
}

describe('tcp probe against a hostile local user', () => {
  let probe: TcpProbe;
  let cap: Capture;
  let listener: Listener;

  before(async () => {
    probe = load();
    cap = new Capture(probe);
    listener = await listen('127.0.0.1', await freePort());
  });
  after(() => {
    probe?.close();
    listener?.stop();
  });

  it('70,000+ connects held half-open by an unprivileged user: every other connect is still reported and counted', async () => {
    const ns = NetNs.create('eohalf');
    const holders: Holder[] = [];
    try {
      // Two dropped ports and the whole port range: room for 4 x 18,000 four-tuples.
      ns.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
      const [p1, p2] = [7101, 7102];
      const table = `eohalf${process.pid}`;
      ns.exec('nft', ['add', 'table', 'inet', table]);
      ns.exec('nft', ['add', 'chain', 'inet', table, 'out', '{ type filter hook output priority 0; policy accept; }']);
      ns.exec('nft', ['add', 'rule', 'inet', table, 'out', 'tcp', 'dport', `{ ${p1}, ${p2} }`, 'tcp', 'flags', '&', '(syn|ack)', '==', 'syn', 'drop']);
      // One at a time: four python processes starting 18,000 connects each would only fight for the 2 CPUs.
      for (let i = 0; i < 4; i++) holders.push(await holdHalfOpen(ns, i % 2 ? p2 : p1, 18_000));
      const pending = holders.reduce((n, h) => n + h.pending, 0);
      assert.ok(pending >= 70_000, `only ${pending} connects half-open (errors: ${JSON.stringify(holders.map((h) => h.errors))})`);
      // The kernel's own view: that many TCP sockets exist in the namespace.
      const inuse = Number(/TCP: inuse (\d+)/.exec(ns.exec('cat', ['/proc/net/sockstat']))?.[1]);
      assert.ok(inuse >= 70_000, `sockstat says ${inuse} TCP sockets in use`);

      // Someone else connects: every attempt reported and counted.
      const before = histCount(probe, listener.port);
      const run = await connect('127.0.0.1', listener.port, { count: 100 });
      assert.ok(run.results.every((r) => r.ok));
      const events = await cap.waitFor(run.pid, 100);
      assert.equal(events.length, 100);
      assert.ok(events.every((e) => e.outcome === TcpOutcome.Established));
      assert.equal(histCount(probe, listener.port) - before, 100n);
      const closed = await freePort();
      const refused = await connect('127.0.0.1', closed);
      const [r] = await cap.waitFor(refused.pid, 1);
      assert.equal(r?.outcome, TcpOutcome.Refused);
      const stats = probe.stats();
      assert.equal(stats.inflightFull, 0n);
      assert.equal(stats.ringbufDrops, 0n);
      // The fast in-flight hash (65,536) is full of the hostile connects: the rest went onto their sockets.
      assert.ok(stats.inflightSpilled > 0n, 'the in-flight hash overflowed into socket storage');
    } finally {
      // Stop reading first: 72,000 abandoned connects are about to end at once.
      probe.close();
      for (const h of holders) h.child.kill('SIGKILL');
      await Promise.all(holders.map((h) => new Promise((resolve) => (h.child.exitCode !== null ? resolve(null) : h.child.once('exit', resolve)))));
      ns.dispose();
    }
  });
});

describe('tcp histogram key table full', () => {
  it('connects to new ports are still counted, under the pre-inserted overflow key', async () => {
    const probe = load();
    const listener = await listen('127.0.0.1', await freePort());
    try {
      // Fill the table with keys nobody will use (family 0).
      const map = probe.histogramMap();
      const zero = Buffer.alloc(TCP_HIST_VALUE_LAYOUT.size);
      for (let port = 1; ; port++) {
        const key = Buffer.alloc(TCP_HIST_KEY_LAYOUT.size);
        key.writeUInt16LE(port, TCP_HIST_KEY_LAYOUT.fields.dport.offset);
        try {
          map.update(key, zero, BPF_NOEXIST);
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'E2BIG');
          break;
        }
      }
      const cap = new Capture(probe);
      const run = await connect('127.0.0.1', listener.port, { count: 20 });
      assert.equal((await cap.waitFor(run.pid, 20)).length, 20);
      assert.equal(histCount(probe, listener.port), 0n, 'no room for the port key');
      let overflow = 0n;
      for (const [k, v] of probe.histogramSource().entries()) {
        const e = decodeHistEntry(k, v);
        if (e.dport === 0 && e.family === 2 && e.outcome === TcpOutcome.Established) overflow += e.count;
      }
      assert.equal(overflow, 20n);
      const stats = probe.stats();
      assert.ok(stats.histFull >= 20n);
      assert.equal(stats.histLost, 0n);
    } finally {
      listener.stop();
      probe.close();
    }
  });
});
