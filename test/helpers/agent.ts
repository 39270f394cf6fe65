/**
 * Runs the real agent (dist/receiver/src/cli.js) as a child process with the
 * project's Node, and collects what it prints.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import { shebangNodeFlags } from '../../receiver/src/node-flags';

export const ROOT = path.resolve(__dirname, '../../..');
export const CLI = path.join(ROOT, 'dist/receiver/src/cli.js');

export interface AgentRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Parsed stdout lines that are spans (jsonl exporter). */
  jsonLines(): Array<Record<string, unknown>>;
  /** Parsed stdout lines that are metric data points (jsonl metrics exporter: a "metric" key). */
  metricLines(): Array<Record<string, unknown>>;
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  waitForJson(predicate: (o: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGINT, then the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** The agent started through a wrapper command (`unshare -m sh -c '...; exec "$0" "$@"'`, `setpriv ...`). */
export function startAgentIn(wrapper: string, wrapperArgs: string[]): (args: string[], env?: NodeJS.ProcessEnv) => AgentRun {
  return (args, env = {}) => startAgent(args, env, {}, [wrapper, ...wrapperArgs]);
}

export function startAgent(args: string[], env: NodeJS.ProcessEnv = {}, spawnOptions: SpawnOptions = {}, wrapper: string[] = []): AgentRun {
  const [cmd, ...pre] = wrapper.length > 0 ? wrapper : [process.execPath];
  // Node flags as the agent's #! line gives them (receiver/src/node-flags.ts). --disable-sigusr1: no
  // signal-blocking watcher thread, so the agent can drop privileges in every thread.
  const nodeFlags = shebangNodeFlags(CLI);
  const argv = wrapper.length > 0 ? [...pre, process.execPath, ...nodeFlags, CLI, ...args] : [...nodeFlags, CLI, ...args];
  const child = spawn(cmd as string, argv, {
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...spawnOptions,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const objects = (): Array<Record<string, unknown>> =>
    // Only complete lines: the last one may still be arriving.
    out.slice(0, out.lastIndexOf('\n') + 1).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const jsonLines = (): Array<Record<string, unknown>> => objects().filter((o) => !('metric' in o));
  const metricLines = (): Array<Record<string, unknown>> => objects().filter((o) => 'metric' in o);
  const poll = async <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`${what} not seen (exit ${child.exitCode}).\nstderr:\n${err}\nstdout:\n${out.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    jsonLines,
    metricLines,
    waitForStderr: (pattern, timeoutMs = 30_000) => poll(() => (pattern.test(err) ? true : undefined), timeoutMs, String(pattern)).then(() => undefined),
    waitForJson: (predicate, timeoutMs = 15_000) => poll(() => jsonLines().find(predicate), timeoutMs, 'matching JSON line'),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
    exited,
  };
}

export function attrs(span: Record<string, unknown>): Record<string, unknown> {
  return (span.attributes ?? {}) as Record<string, unknown>;
}
