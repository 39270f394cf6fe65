/**
 * The programs a storm runs under: our agent (dist/receiver/src/cli.js with
 * the project's Node) or a Debian libbpf-tools program (tcpstates,
 * execsnoop). Each is started, waited for until its probes are attached and
 * it sits idle, then stopped with SIGINT so it prints its exit summary.
 * Their stdout goes to /dev/null: the cost measured is tracing, not a terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { shebangNodeFlags } from '../receiver/src/node-flags';
import { sleep, waitUntilIdle } from './proc';

export const ROOT = path.resolve(__dirname, '../..');
/** The Node flags the agent runs with: its #! line's (receiver/src/node-flags.ts; cli.ts says why). */
export const AGENT_NODE_FLAGS: readonly string[] = shebangNodeFlags();
const CLI = path.join(ROOT, 'dist/receiver/src/cli.js');
const FLOOR = path.join(ROOT, 'dist/bench/floor.js');
export const FLOOR_OBJECT = path.join(ROOT, 'build/bench/floor.bpf.o');

export interface WatcherSpec {
  /** Short key used in the raw results, e.g. "agent-uncapped". */
  id: string;
  /** Row label in RESULTS.md. */
  label: string;
  /** floor: bench/floor.ts, a count-only program (prints an agent-style summary). */
  kind: 'agent' | 'tool' | 'floor';
  argv: string[];
}

export function agentSpec(id: string, label: string, args: string[], exporter: 'jsonl' | 'otlp' = 'jsonl'): WatcherSpec {
  // process.execPath is the Node 22 that scripts/node.sh picked to run the bench itself.
  // The Node flags npm start passes (receiver/src/cli.ts).
  return { id, label, kind: 'agent', argv: [process.execPath, ...AGENT_NODE_FLAGS, CLI, '--exporter', exporter, ...args] };
}

/** A count-only program on inet_sock_set_state, loaded by the bench itself (bench/floor.bpf.c). */
export function floorSpec(id: string, label: string, hook: 'tp' | 'tp_btf'): WatcherSpec {
  return { id, label, kind: 'floor', argv: [process.execPath, FLOOR, hook, FLOOR_OBJECT] };
}

export function toolSpec(id: string, label: string, argv: string[]): WatcherSpec {
  return { id, label, kind: 'tool', argv };
}

/** The agent's exit line, "events received: tcp=5; lost in kernel: 0; ...", as totals. */
export interface AgentSummary {
  eventsReceived: number;
  lostInKernel: number;
  decodeErrors: number;
  spansSampledOut: number;
  spansExported: number;
  spansDropped: number;
  line: string;
}

export interface WatcherExit {
  code: number | null;
  stderr: string;
  summary?: AgentSummary;
  /** libbpf-tools print "lost N events on CPU #c" when their perf buffer overflows. */
  toolLostEvents: number;
}

export interface RunningWatcher {
  pid: number;
  /** Agent and floor: ms from spawn until it said its probes are attached ("running;"). */
  startupMs: number | undefined;
  stop(): Promise<WatcherExit>;
}

export class WatcherStartError extends Error {}

/** Sum of the counts in one summary field: "0", "tcp=5" or "rate_limit=3 other=2". */
function fieldTotal(fields: Map<string, string>, name: string): number {
  const value = fields.get(name) ?? '0';
  const counts = [...value.matchAll(/(?:^|=)(\d+)/g)].map((m) => Number(m[1]));
  return counts.reduce((a, b) => a + b, 0);
}

export function parseAgentSummary(stderr: string): AgentSummary | undefined {
  const line = stderr.split('\n').find((l) => l.includes('events received:'));
  if (!line) return undefined;
  const body = line.slice(line.indexOf('events received:'));
  const fields = new Map<string, string>();
  for (const part of body.split('; ')) {
    const colon = part.indexOf(':');
    if (colon > 0) fields.set(part.slice(0, colon).trim(), part.slice(colon + 1).trim());
  }
  return {
    eventsReceived: fieldTotal(fields, 'events received'),
    lostInKernel: fieldTotal(fields, 'lost in kernel'),
    decodeErrors: fieldTotal(fields, 'decode errors'),
    spansSampledOut: fieldTotal(fields, 'spans sampled out'),
    spansExported: fieldTotal(fields, 'spans exported'),
    spansDropped: fieldTotal(fields, 'spans dropped'),
    line: body.trim(),
  };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function startWatcher(spec: WatcherSpec, stdoutFile = '/dev/null'): Promise<RunningWatcher> {
  const devNull = openSync(stdoutFile, 'w');
  const [program, ...args] = spec.argv;
  if (!program) throw new WatcherStartError(`${spec.id}: empty command`);
  const child = spawn(program, args, {
    cwd: ROOT,
    // A dead OTLP endpoint must not matter: the agent only exports jsonl here.
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '' },
    stdio: ['ignore', devNull, 'pipe'],
  });
  closeSync(devNull);
  let stderr = '';
  const spawnedAt = process.hrtime.bigint();
  let startupMs: number | undefined;
  const readyPattern = spec.kind === 'tool' ? undefined : /running;/;
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    // Timed when the line arrives, not when the loop below looks.
    if (startupMs === undefined && readyPattern?.test(stderr)) startupMs = Number(process.hrtime.bigint() - spawnedAt) / 1e6;
  });
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = exitOf(child);
  const pid = child.pid;
  if (pid === undefined) throw new WatcherStartError(`${spec.id}: could not start ${program}: ${(await spawnFailed).message}`);

  // Ready means: attached (the agent says "running"; the tools give no sign
  // on a silenced stdout, so at least their load time has passed) and idle,
  // so that neither start-up work nor JIT warm-up competes with the storm.
  const deadline = Date.now() + 30_000;
  await sleep(500);
  while (readyPattern && !readyPattern.test(stderr)) {
    if (child.exitCode !== null || Date.now() > deadline) break;
    await sleep(25);
  }
  if (child.exitCode !== null || (readyPattern && !readyPattern.test(stderr))) {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    throw new WatcherStartError(`${spec.id} did not start (exit ${child.exitCode}):\n${stderr.trim()}`);
  }
  await waitUntilIdle(pid, 10_000);

  return {
    pid,
    startupMs,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      // Let the last stderr chunks arrive.
      await sleep(50);
      const lost = [...stderr.matchAll(/lost (\d+) events/g)].reduce((a, m) => a + Number(m[1]), 0);
      const summary = spec.kind === 'tool' ? undefined : parseAgentSummary(stderr);
      return { code, stderr, toolLostEvents: lost, ...(summary ? { summary } : {}) };
    },
  };
}
