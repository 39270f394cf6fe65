/**
 * The TCP probe in the real kernel: real connects from a process whose pid we
 * know (test/helpers/tcpctl.py), real refusals, real SYN timeouts and a
 * dropped first SYN in a network namespace (nftables).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import path from 'node:path';
import { DecodeError } from '../receiver/src/decode/layout';
import { decodeKinds } from '../receiver/src/decode/index';
import { TCP_OUTCOME_NAMES, TcpOutcome, type TcpConnectEvent } from '../receiver/src/decode/tcp-connect';
import { TcpProbe, type TcpProbeSettings } from '../receiver/src/probes/tcp';
import { decodeHistEntry } from '../receiver/src/tcp/metrics';
import { connect, freePort, listen, NetNs, sleep, VethPair, type Listener } from './helpers/net';

const BPF_DIR = path.resolve(__dirname, '../../build/bpf');

const decodeTcp = decodeKinds('tcp_connect');

class Capture {
  readonly events: TcpConnectEvent[] = [];
  decodeErrors = 0;
  /** Records delivered, decodable or not. */
  received = 0;
  constructor(readonly probe: TcpProbe) {
    probe.start(
      (record) => {
        this.received++;
        try {
          const event = decodeTcp(record);
          if (event) this.events.push(event);
        } catch (err) {
          if (err instanceof DecodeError) this.decodeErrors++;
          else throw err;
        }
      },
      () => this.decodeErrors++,
    );
  }

  forPid(pid: number): TcpConnectEvent[] {
    return this.events.filter((e) => e.pid === pid);
  }

  /** Waits for `n` events of `pid`, then settles, so extras (duplicates) would be here too. */
  async waitFor(pid: number, n: number, timeoutMs = 10_000): Promise<TcpConnectEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.forPid(pid).length >= n) break;
      await sleep(20);
    }
    await this.settle();
    return this.forPid(pid);
  }

  /**
   * Waits until every record the kernel has submitted so far (its own
   * TCP_STAT_EVENTS counter) has arrived: after that, an event that is not
   * here was never sent.
   */
  async settle(timeoutMs = 10_000): Promise<void> {
    const submitted = this.probe.stats().events;
    const deadline = Date.now() + timeoutMs;
    while (BigInt(this.received) < submitted) {
      if (Date.now() > deadline) throw new Error(`${this.received} of ${submitted} submitted records arrived`);
      this.probe.drain();
      await sleep(20);
    }
  }
}

function load(settings: Partial<TcpProbeSettings> = {}): TcpProbe {
  return TcpProbe.load(BPF_DIR, {
    filterTgid: 0,
    excludeTgid: 0,
    dport: 0,
    includeLoopback: true,
    perPeerHistogram: false,
    minLatencyNs: 0n,
    ...settings,
  });
}

describe('tcp probe in the kernel', () => {
  let probe: TcpProbe;
  let cap: Capture;
  let v4: Listener;
  let v6: Listener;

  before(async () => {
    probe = load();
    cap = new Capture(probe);
    v4 = await listen('127.0.0.1', await freePort());
    v6 = await listen('::1', await freePort());
  });
  after(() => {
    v4?.stop();
    v6?.stop();
    probe?.close();
  });

  it('IPv4 connects: pid, ports, addresses, latency', async () => {
    const run = await connect('127.0.0.1', v4.port, { count: 3 });
    assert.ok(run.results.every((r) => r.ok));
    const events = await cap.waitFor(run.pid, 3);
    assert.equal(events.length, 3);
    for (const e of events) {
      assert.equal(e.outcome, TcpOutcome.Established);
      assert.equal(e.tid, run.pid); // single-threaded python: main thread
      assert.equal(e.comm, 'python3');
      assert.equal(e.uid, process.getuid?.());
      assert.equal(e.networkType, 'ipv4');
      assert.equal(e.peerAddress, '127.0.0.1');
      assert.equal(e.peerPort, v4.port);
      assert.equal(e.localAddress, '127.0.0.1');
      assert.ok(e.endNs > e.startNs && e.endNs - e.startNs < 1_000_000_000n);
    }
    assert.deepEqual(events.map((e) => e.localPort).sort(), run.results.map((r) => r.sport).sort());
  });

  it('IPv6 connects', async () => {
    const run = await connect('::1', v6.port);
    const [e] = await cap.waitFor(run.pid, 1);
    assert.equal(e?.outcome, TcpOutcome.Established);
    assert.equal(e?.networkType, 'ipv6');
    assert.equal(e?.peerAddress, '::1');
    assert.equal(e?.localPort, run.results[0]?.sport);
  });

  it('IPv4-mapped address on an IPv6 socket is reported as IPv4', async () => {
    const run = await connect('::ffff:127.0.0.1', v4.port);
    assert.ok(run.results[0]?.ok);
    const [e] = await cap.waitFor(run.pid, 1);
    assert.equal(e?.networkType, 'ipv4');
    assert.equal(e?.peerAddress, '127.0.0.1');
  });

  it('refused connects (v4 and v6) carry ECONNREFUSED', async () => {
    const closed = await freePort();
    for (const host of ['127.0.0.1', '::1']) {
      const run = await connect(host, closed);
      assert.equal(run.results[0]?.errno, 111);
      const [e] = await cap.waitFor(run.pid, 1);
      assert.equal(e?.outcome, TcpOutcome.Refused);
      assert.equal(e?.skErr, 111);
      assert.equal(e?.peerPort, closed);
    }
  });

  it('200 parallel connects: every one seen once', async () => {
    const run = await connect('127.0.0.1', v4.port, { count: 200, parallel: true });
    const events = await cap.waitFor(run.pid, 200);
    const ok = run.results.filter((r) => r.ok).length;
    assert.equal(events.length, run.results.length);
    assert.equal(events.filter((e) => e.outcome === TcpOutcome.Established).length, ok);
    assert.equal(new Set(events.map((e) => e.localPort)).size, events.length, 'no duplicates');
    assert.equal(probe.stats().ringbufDrops, 0n);
    assert.equal(cap.decodeErrors, 0);
  });

  it('the kernel histogram counts what the events show', async () => {
    const port = v4.port;
    const counted = probe
      .histogramSource()
      .entries()
      .map(([k, v]) => decodeHistEntry(k, v))
      .filter((h) => h.dport === port && h.outcome === TcpOutcome.Established)
      .reduce((sum, h) => sum + h.count, 0n);
    const seen = cap.events.filter((e) => e.peerPort === port && e.outcome === TcpOutcome.Established).length;
    assert.equal(counted, BigInt(seen));
  });

  it('agrees with Debian\'s tcpstates on the same connects (ports, outcome, latency)', async () => {
    const tcpstates = spawn('stdbuf', ['-oL', '/usr/sbin/tcpstates', '-T'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    tcpstates.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    // TIME SKADDR C-PID C-COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS
    const lines = (): string[][] => out.split('\n').map((l) => l.trim().split(/\s+/));
    const until = async (what: string, done: () => boolean): Promise<void> => {
      for (const deadline = Date.now() + 20_000; !done(); await sleep(20)) {
        if (Date.now() > deadline || tcpstates.exitCode !== null) throw new Error(`tcpstates: ${what} not printed; output:\n${out}`);
      }
    };
    try {
      await until('its header (attached)', () => lines().some((f) => f.includes('SKADDR')));
      const closed = await freePort();
      const ok = await connect('127.0.0.1', v4.port, { count: 5 });
      const refused = await connect('127.0.0.1', closed, { count: 3 });
      await cap.waitFor(ok.pid, 5);
      await cap.waitFor(refused.pid, 3);
      const syns = (): string[][] => lines().filter((f) => f[8] === 'SYN_SENT' && f[9] === '->');
      const sports = [...ok.results, ...refused.results].map((r) => r.sport);
      await until('the connects', () => sports.every((sport) => syns().some((f) => Number(f[5]) === sport)));
      const theirs = syns();
      const check = (run: { results: Array<{ sport: number }> }, port: number, newState: string, outcome: number): void => {
        for (const { sport } of run.results) {
          const t = theirs.find((f) => Number(f[5]) === sport && Number(f[7]) === port);
          assert.ok(t, `tcpstates saw the connect from port ${sport}`);
          assert.equal(t[10], newState);
          const e = cap.events.find((x) => x.localPort === sport && x.peerPort === port);
          assert.ok(e, `we saw the connect from port ${sport}: ${JSON.stringify(cap.events.filter((x) => x.peerPort === port).map((x) => [x.localPort, x.peerPort, x.outcome]))}`);
          assert.equal(e.outcome, outcome);
          const ours = Number(e.endNs - e.startNs) / 1e6;
          const their = Number(t[11]);
          assert.ok(Math.abs(ours - their) < 1, `latency ${ours} ms vs tcpstates ${their} ms`);
        }
      };
      check(ok, v4.port, 'ESTABLISHED', TcpOutcome.Established);
      check(refused, closed, 'CLOSE', TcpOutcome.Refused);
    } finally {
      tcpstates.kill('SIGINT');
    }
  });

  describe('in a network namespace with SYNs dropped', () => {
    let ns: NetNs;
    before(() => {
      ns = NetNs.create();
    });
    after(() => ns?.dispose());

    it('a SYN timeout is timed_out, ETIMEDOUT, attributed to the connecting process (not softirq)', async () => {
      const port = 7001;
      const undrop = ns.dropSyns(port);
      try {
        const run = await connect('127.0.0.1', port, { netns: ns.name, syncnt: 1 });
        assert.equal(run.results[0]?.errno, 110);
        const [e] = await cap.waitFor(run.pid, 1);
        assert.ok(e, 'event for the connecting pid');
        assert.equal(e.outcome, TcpOutcome.TimedOut);
        assert.equal(e.skErr, 110);
        assert.equal(e.comm, 'python3');
        const seconds = Number(e.endNs - e.startNs) / 1e9;
        assert.ok(seconds > 2 && seconds < 5, `timed out after ${seconds}s`);
      } finally {
        undrop();
      }
    });

    it('a dropped first SYN: established after ~1 s (retransmit), still the right pid', async () => {
      const listener = await listen('127.0.0.1', 7002, ns.name);
      const undrop = ns.dropSyns(7002);
      try {
        const pending = connect('127.0.0.1', 7002, { netns: ns.name });
        // Let the first SYN through only once it has been dropped (the retransmit comes ~1 s later).
        for (const deadline = Date.now() + 5000; ns.synsDropped() < 1; await sleep(20)) {
          if (Date.now() > deadline) throw new Error('the first SYN was never dropped');
        }
        undrop();
        const run = await pending;
        assert.ok(run.results[0]?.ok);
        const [e] = await cap.waitFor(run.pid, 1);
        assert.ok(e, 'event for the connecting pid');
        assert.equal(e.outcome, TcpOutcome.Established);
        assert.equal(e.comm, 'python3');
        const seconds = Number(e.endNs - e.startNs) / 1e9;
        assert.ok(seconds > 0.9 && seconds < 1.6, `latency ${seconds}s`);
        assert.ok(Math.abs(seconds - (run.results[0]?.seconds ?? 0)) < 0.1, 'matches what the process measured');
      } finally {
        undrop();
        listener.stop();
      }
    });

    const unreachable: Array<['host-unreachable' | 'net-unreachable' | 'tcp-reset', number, number, number]> = [
      ['host-unreachable', 7004, TcpOutcome.HostUnreachable, 113],
      ['net-unreachable', 7005, TcpOutcome.NetworkUnreachable, 101],
      ['tcp-reset', 7006, TcpOutcome.Refused, 111],
    ];
    for (const [icmp, port, outcome, errno] of unreachable) {
      it(`a local firewall's ICMP ${icmp} answer to the SYN is ${TCP_OUTCOME_NAMES[outcome]} (errno ${errno})`, async () => {
        // The ICMP arrives while connect() holds the socket: a soft error, reported
        // when the first SYN retransmit gives up (~1 s), as connect(2) itself does.
        const undo = ns.rejectSyns(port, icmp);
        try {
          const run = await connect('127.0.0.1', port, { netns: ns.name, blocking: true });
          assert.equal(run.results[0]?.errno, errno);
          const [e] = await cap.waitFor(run.pid, 1);
          assert.equal(e?.outcome, outcome);
          assert.equal(e?.skErr, errno);
        } finally {
          undo();
        }
      });
    }

    it('a connect the application abandons in SYN_SENT is "abandoned"', async () => {
      const undrop = ns.dropSyns(7003);
      try {
        const run = await connect('127.0.0.1', 7003, { netns: ns.name, abandon: true });
        const [e] = await cap.waitFor(run.pid, 1);
        assert.equal(e?.outcome, TcpOutcome.Abandoned);
        assert.equal(e?.skErr, 0);
      } finally {
        undrop();
      }
    });
  });
});

describe('tcp probe across a veth link between two namespaces', () => {
  it('IPv4 and IPv6 connects over a real interface: addresses, namespace, histogram family; --no-loopback keeps them', async () => {
    const pair = VethPair.create();
    const probe = load({ includeLoopback: false });
    const c = new Capture(probe);
    try {
      const v4 = await listen(VethPair.SERVER_V4, 8080, pair.server.name);
      const v6 = await listen(VethPair.SERVER_V6, 8081, pair.server.name);
      try {
        const run4 = await connect(VethPair.SERVER_V4, 8080, { netns: pair.client.name });
        const run6 = await connect(VethPair.SERVER_V6, 8081, { netns: pair.client.name });
        assert.ok(run4.results[0]?.ok && run6.results[0]?.ok);
        const [e4] = await c.waitFor(run4.pid, 1);
        const [e6] = await c.waitFor(run6.pid, 1);
        assert.equal(e4?.outcome, TcpOutcome.Established);
        assert.equal(e4?.localAddress, VethPair.CLIENT_V4);
        assert.equal(e4?.peerAddress, VethPair.SERVER_V4);
        assert.equal(e4?.networkType, 'ipv4');
        assert.equal(e6?.localAddress, VethPair.CLIENT_V6);
        assert.equal(e6?.peerAddress, VethPair.SERVER_V6);
        assert.equal(e6?.networkType, 'ipv6');
        assert.equal(e4?.netnsIno, pair.client.inode(), 'the socket\'s namespace');
        const families = probe.histogramSource().entries().map(([k, v]) => decodeHistEntry(k, v)).filter((h) => h.dport === 8080 || h.dport === 8081);
        assert.deepEqual(families.map((h) => [h.dport, h.family, Number(h.count)]).sort(), [[8080, 2, 1], [8081, 10, 1]]);
      } finally {
        v4.stop();
        v6.stop();
      }
    } finally {
      probe.close();
      pair.dispose();
    }
  });
});

describe('tcp probe filters (set before load)', () => {
  it('pid, port and loopback filters apply in the kernel', async () => {
    const a = await listen('127.0.0.1', await freePort());
    const b = await listen('127.0.0.1', await freePort());
    const byPort = load({ dport: a.port });
    const noLoop = load({ includeLoopback: false });
    const capPort = new Capture(byPort);
    const capNoLoop = new Capture(noLoop);
    try {
      const runA = await connect('127.0.0.1', a.port);
      const runB = await connect('127.0.0.1', b.port);
      await capPort.waitFor(runA.pid, 1);
      await capNoLoop.settle();
      assert.equal(capPort.forPid(runA.pid).length, 1);
      assert.equal(capPort.forPid(runB.pid).length, 0, 'other port filtered');
      assert.equal(capNoLoop.forPid(runA.pid).length + capNoLoop.forPid(runB.pid).length, 0, 'loopback filtered');
    } finally {
      byPort.close();
      noLoop.close();
      a.stop();
      b.stop();
    }
  });

  it('per-peer histograms: the peer address is part of the key only when asked for', async () => {
    const a = await listen('0.0.0.0', await freePort());
    const perPeer = load({ perPeerHistogram: true, dport: a.port });
    const plain = load({ dport: a.port });
    try {
      await connect('127.0.0.1', a.port, { count: 2 });
      await connect('127.0.0.2', a.port);
      // The maps are updated in the connecting path, before connect() returns: nothing to wait for.
      // Zero counts are the pre-inserted overflow keys (no connect folded into them).
      const counted = (p: TcpProbe): ReturnType<typeof decodeHistEntry>[] =>
        p.histogramSource().entries().map(([k, v]) => decodeHistEntry(k, v)).filter((h) => h.count > 0n);
      const peers = counted(perPeer).map((h) => [h.peer, Number(h.count)]).sort();
      assert.deepEqual(peers, [['127.0.0.1', 2], ['127.0.0.2', 1]]);
      const merged = counted(plain).map((h) => [h.peer, Number(h.count)]);
      assert.deepEqual(merged, [[undefined, 3]]);
    } finally {
      perPeer.close();
      plain.close();
      a.stop();
    }
  });

  it('min latency: fast successes send no event but are counted in the histogram', async () => {
    const a = await listen('127.0.0.1', await freePort());
    const slowOnly = load({ minLatencyNs: 500_000_000n, dport: a.port });
    const c = new Capture(slowOnly);
    try {
      const run = await connect('127.0.0.1', a.port, { count: 5 });
      await c.settle();
      assert.equal(c.forPid(run.pid).length, 0);
      const total = slowOnly.histogramSource().entries().map(([k, v]) => decodeHistEntry(k, v)).reduce((s, h) => s + h.count, 0n);
      assert.equal(total, 5n);
    } finally {
      slowOnly.close();
      a.stop();
    }
  });

  it('routine budget: fast successes over the per-CPU budget are counted, not sent; failures always are', async () => {
    const a = await listen('127.0.0.1', await freePort());
    // Only our port: other activity on the machine must not spend the budget.
    const budgeted = load({ dport: a.port, routinePerSecond: 5, slowThresholdNs: 10_000_000_000n });
    const c = new Capture(budgeted);
    try {
      const run = await connect('127.0.0.1', a.port, { count: 60 });
      a.stop();
      // Refused now that the listener is gone; after the budget is spent, every one still arrives.
      const refused = await connect('127.0.0.1', a.port, { count: 10 });
      assert.equal(refused.results.filter((r) => r.errno === 111).length, 10);
      assert.equal((await c.waitFor(refused.pid, 10)).length, 10);
      const sent = c.forPid(run.pid).length;
      const cpus = (await import('node:os')).availableParallelism();
      // At most 5 per CPU per second: the run may straddle a second boundary.
      assert.ok(sent >= 5 && sent <= 5 * cpus * 2, `${sent} routine events sent`);
      assert.equal(budgeted.stats().routineSkipped, BigInt(60 - sent));
      const total = budgeted.histogramSource().entries().map(([k, v]) => decodeHistEntry(k, v)).reduce((n, h) => n + h.count, 0n);
      assert.equal(total, 70n, 'the histogram counts every connect');
    } finally {
      budgeted.close();
      a.stop();
    }
  });
});
