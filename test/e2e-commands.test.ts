/**
 * End to end, a command as a person types it: a real interactive bash in tmux, the real agent
 * (tcp, exec and bash probes, process spans for interactive commands) -> the real OpenTelemetry
 * Collector -> Jaeger v2. The command connects over TCP; Jaeger must hold ONE trace for it:
 *
 *   root span "python3.11" (process.command_line = what was typed, the shell's pid and tty)
 *     └─ process span "python3.11" (exec -> exit of the process bash started)
 *          └─ "tcp connect" (CLIENT, the process's connect)
 *
 * The command is typed with the real interpreter's path (not a pyenv-style shim, which would
 * put its own chain of scripts between the root and python).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentRun } from './helpers/agent';
import {
  ensureBackends,
  flattenSpans,
  startCollector,
  startJaeger,
  waitFor,
  type CollectorHandle,
  type FlatSpan,
  type JaegerHandle,
} from './helpers/backends';
import { freePort, listen, TCPCTL, type ConnectRun, type Listener } from './helpers/net';
import { TmuxShell } from './helpers/tmux';

const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

function kindNumber(kind: number | string | undefined): number | undefined {
  if (typeof kind === 'number') return kind;
  if (kind === 'SPAN_KIND_CLIENT') return SPAN_KIND_CLIENT;
  return kind === undefined ? undefined : Number.NaN;
}

function statusNumber(code: number | string | undefined): number {
  if (code === undefined) return 0;
  if (typeof code === 'number') return code;
  return code === 'STATUS_CODE_ERROR' ? STATUS_ERROR : code === 'STATUS_CODE_OK' ? 1 : 0;
}

/** The interpreter behind `python3` (sys.executable), so the typed command execs it directly. */
function realPython(): string {
  const out = spawnSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`python3 did not run: ${out.stderr}`);
  return out.stdout.trim();
}

/** tcpctl's JSON results on the screen, in the order the commands printed them. */
function screenResults(shell: TmuxShell): ConnectRun[] {
  return shell
    .screen()
    .split('\n')
    .filter((l) => l.startsWith('{"pid": '))
    .map((l) => JSON.parse(l) as ConnectRun);
}

function tree(spans: FlatSpan[]): string {
  return spans.map((s) => `${s.spanId} <- ${s.parentSpanId || '(root)'} ${s.name} pid=${String(s.attributes['process.pid'])}`).join('\n');
}

// A machine without the backends builds them from source first (minutes; cached afterwards),
// before the suite's own timeout starts.
before(() => {
  ensureBackends();
});

describe('e2e: a command typed into bash becomes one trace in Jaeger', { timeout: 180_000 }, () => {
  const service = `e2e-commands-${process.pid}-${Date.now()}`;
  let jaeger: JaegerHandle;
  let collector: CollectorHandle;
  let agent: AgentRun;
  let listener: Listener;
  let shell: TmuxShell;
  let port: number;
  let python: string;
  let since = 0;
  const traceIds: string[] = [];

  before(async () => {
    python = realPython();
    jaeger = await startJaeger();
    collector = await startCollector({ jaeger });
    port = await freePort();
    listener = await listen('127.0.0.1', port);
    since = Date.now() - 1000;
    agent = startAgent(
      [
        '--exporter', 'otlp,jsonl',
        '--otlp-endpoint', collector.endpoints.otlpGrpc,
        '--probes', 'tcp,exec,bash',
        '--trace-execs', 'interactive',
        // Connects elsewhere on the machine stay out; commands and processes are not filtered by it.
        '--port', String(port),
        '--metric-interval-ms', '1000',
      ],
      { OTEL_SERVICE_NAME: service },
    );
    await agent.waitForStderr(/running/);
    // The shell starts after the probes are attached, as a user's login would.
    shell = TmuxShell.start('e2ecmd');
    await shell.waitForPrompt();
  });

  after(async () => {
    shell?.kill();
    await agent?.stop();
    listener?.stop();
    await collector?.stop();
    await jaeger?.stop();
  });

  /** Types the command, waits for its output and the next prompt, returns tcpctl's result. */
  async function run(command: string, nth: number): Promise<ConnectRun> {
    shell.type(command);
    await waitFor(() => Promise.resolve(screenResults(shell)), (r) => r.length > nth, { timeoutMs: 20_000, what: `output of: ${command}\n${shell.screen()}` });
    await shell.waitForPrompt();
    const result = screenResults(shell)[nth];
    assert.ok(result, 'tcpctl printed its result');
    return result;
  }

  /** Waits until Jaeger has the command's root span and the spans below it, and returns them. */
  async function traceOf(command: string, connectRun: ConnectRun): Promise<{ root: FlatSpan; spans: FlatSpan[] }> {
    const sport = connectRun.results[0]?.sport;
    const all = await waitFor(
      async () => flattenSpans(await jaeger.traces(service, since)),
      (spans) => {
        const root = spans.find((s) => s.attributes['process.command_line'] === command);
        return root !== undefined && spans.some((s) => s.traceId === root.traceId && s.name === 'tcp connect' && s.attributes['network.local.port'] === sport);
      },
      { timeoutMs: 30_000, intervalMs: 500, what: `a trace for "${command}" with its tcp connect span` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nagent stderr:\n${agent.stderr().slice(-3000)}`);
    });
    const root = all.find((s) => s.attributes['process.command_line'] === command);
    assert.ok(root);
    return { root, spans: all.filter((s) => s.traceId === root.traceId) };
  }

  function checkTrace(command: string, connectRun: ConnectRun, got: { root: FlatSpan; spans: FlatSpan[] }): { proc: FlatSpan; tcp: FlatSpan } {
    const { root, spans } = got;
    const sport = connectRun.results[0]?.sport;
    const shape = `trace:\n${tree(spans)}`;

    // Root: the command as typed, in the shell.
    assert.equal(root.parentSpanId, '', `the command span is the root; ${shape}`);
    assert.equal(root.name, path.basename(python), 'named after the command (basename of its first word)');
    assert.equal(root.attributes['process.pid'], shell.pid, 'the shell that read the line');
    assert.equal(root.attributes['ebpf_otel.shell.tty'], shell.tty.replace(/^\/dev\//, ''));
    assert.equal(root.attributes['process.owner'], 'root');
    assert.equal(root.attributes['process.exit.code'], 0);
    assert.equal(root.resource['service.name'], service);

    // The process bash started for it, directly below the root.
    const procs = spans.filter((s) => s.attributes['process.pid'] === connectRun.pid && s.name !== 'tcp connect');
    assert.equal(procs.length, 1, `one process span for pid ${connectRun.pid}; ${shape}`);
    const proc = procs[0] as FlatSpan;
    assert.equal(proc.name, path.basename(python));
    assert.equal(proc.parentSpanId, root.spanId, `process span under the command span; ${shape}`);
    assert.equal(proc.attributes['process.parent_pid'], shell.pid);
    assert.equal(proc.attributes['process.executable.path'], python);
    assert.deepEqual(proc.attributes['process.command_args'], command.split(' '));
    assert.equal(proc.attributes['process.exit.code'], 0);
    assert.equal(statusNumber(proc.status.code), 0);

    // Its connect, below the process.
    const tcps = spans.filter((s) => s.name === 'tcp connect');
    assert.equal(tcps.length, 1, `one connect in the trace; ${shape}`);
    const tcp = tcps[0] as FlatSpan;
    assert.equal(tcp.parentSpanId, proc.spanId, `tcp connect under the process span; ${shape}`);
    assert.equal(kindNumber(tcp.kind), SPAN_KIND_CLIENT);
    assert.equal(tcp.attributes['process.pid'], connectRun.pid);
    assert.equal(tcp.attributes['network.local.port'], sport);
    assert.equal(tcp.attributes['server.port'], port);

    // Nothing else: python started no other process, and no other command leaked in.
    assert.equal(spans.length, 3, shape);

    // Time nests the same way: command ⊇ process ⊇ connect.
    assert.ok(root.startTimeUnixNano <= proc.startTimeUnixNano && proc.endTimeUnixNano <= root.endTimeUnixNano, `process within the command; ${shape}`);
    assert.ok(proc.startTimeUnixNano <= tcp.startTimeUnixNano && tcp.endTimeUnixNano <= proc.endTimeUnixNano, 'connect within the process');
    assert.ok(!traceIds.includes(root.traceId), 'each command has its own trace');
    traceIds.push(root.traceId);
    return { proc, tcp };
  }

  it('a successful connect: root -> python3 -> tcp connect', async () => {
    const command = `${python} ${TCPCTL} connect 127.0.0.1 ${port}`;
    const connectRun = await run(command, 0);
    assert.equal(connectRun.results[0]?.ok, true);
    const got = await traceOf(command, connectRun);
    const { tcp } = checkTrace(command, connectRun, got);
    assert.equal(statusNumber(tcp.status.code), 0);
    assert.equal(tcp.attributes['ebpf_otel.tcp.outcome'], 'established');
    assert.equal(statusNumber(got.root.status.code), 0);
  });

  it('a refused connect: its own trace, the error on the connect span', async () => {
    // The listener is bound to 127.0.0.1 only: 127.0.0.2 answers with a reset. tcpctl exits 0.
    const command = `${python} ${TCPCTL} connect 127.0.0.2 ${port}`;
    const connectRun = await run(command, 1);
    assert.equal(connectRun.results[0]?.errno, 111);
    const got = await traceOf(command, connectRun);
    const { tcp } = checkTrace(command, connectRun, got);
    assert.equal(statusNumber(tcp.status.code), STATUS_ERROR);
    assert.equal(tcp.attributes['error.type'], 'connection_refused');
    assert.equal(tcp.attributes['network.peer.address'], '127.0.0.2');
  });

  it('the agent exits cleanly with nothing dropped', async () => {
    assert.equal(await agent.stop(), 0);
    assert.match(agent.stderr(), /spans dropped: 0/);
    assert.match(agent.stderr(), /decode errors: 0/);
  });
});
