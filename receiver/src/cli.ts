#!/usr/bin/env -S node --disable-sigusr1 --max-semi-space-size=4 --no-allocation-site-pretenuring --heap-growing-percent=100
/**
 * ebpf-otel command line: parse, start the agent, stop cleanly on
 * SIGINT/SIGTERM or after --duration. Exit codes: 0 clean stop, 1 the agent
 * could not start or failed, 2 bad flags, environment or configuration.
 *
 * Node flags, passed wherever the agent is started (this #! line, npm start, the tests, the
 * benchmarks, the DaemonSet): --disable-sigusr1 (see privileges.ts), --max-semi-space-size=4,
 * --no-allocation-site-pretenuring and --heap-growing-percent=100.
 * The young generation then stays at 2 x 4 MiB instead of growing to 2 x 16 MiB under a storm: what
 * the agent allocates per event dies within one reorder tick, so the smaller nursery costs no
 * measurable CPU, and saves 5 to 35 MB of peak RSS (bench/memory.ts; README, Benchmarks).
 * Without pretenuring V8 no longer allocates span objects straight in the old generation: under a
 * connect storm spans live one or two scavenges (batch, export round trip), often enough for V8 to
 * pretenure their allocation sites, and the old generation then filled with spans that were dead
 * soon after, until the next full collection. Turning it off saved 10-12 MB of peak RSS uncapped
 * (jsonl, OTLP/HTTP), no CPU (bench/memory.ts --compare-node-flag, 3 interleaved rounds).
 * --heap-growing-percent=100: a full collection when the old generation has doubled since the last
 * one. V8 otherwise lets it grow up to 4 times what survived when its collections are cheap, and an
 * agent whose exporter is saturated promotes every span it buffers: 35-45 MB live grew to ~150 MB
 * of heap before V8 collected it. Medians of peak RSS over 5 interleaved rounds under a connect storm
 * at 65,000-80,000 connects/s, without -> with: uncapped jsonl 185 -> 152 MB, OTLP/gRPC 194 -> 187,
 * OTLP/HTTP 262 -> 181; CPU per 1,000 connects within the rounds' noise (13.9 -> 12.9, 15.0 -> 13.6,
 * 14.8 -> 14.4 ms); defaults unchanged (87 -> 89 MB, 3 rounds). Node flags: receiver/src/node-flags.ts.
 */
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { Agent, AGENT_VERSION } from './agent';
import { ConfigError, helpText, parseCommandLine } from './config';
import { createLogger } from './log';

async function main(): Promise<number> {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 15)) {
    process.stderr.write(`ebpf-otel: Node.js >= 22.15 is needed (this is ${process.versions.node}): run it with scripts/node.sh or npm start, which use the Node 22 that npm ci installs\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ebpf-otel: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(helpText(AGENT_VERSION));
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  const config = parsed.config;
  const log = createLogger(config.logLevel);
  if (config.logLevel === 'debug') {
    diag.setLogger({
      error: (m) => log.error(`otel: ${m}`),
      warn: (m) => log.warn(`otel: ${m}`),
      info: (m) => log.debug(`otel: ${m}`),
      debug: () => undefined,
      verbose: () => undefined,
    }, DiagLogLevel.INFO);
  }

  const agent = new Agent(config, log);
  let signals = 0;
  let resolveStop: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => { resolveStop = resolve; });
  const stop = (why: string, code: number): void => {
    log.info(`stopping (${why})`);
    void agent.stop().then(() => resolveStop(code), (err: Error) => {
      log.error(`shutdown failed: ${err.message}`);
      resolveStop(1);
    });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      signals++;
      if (signals > 1) {
        log.warn('second signal: exiting without flushing');
        process.exit(130);
      }
      stop(signal, 0);
    });
  }
  process.on('uncaughtException', (err) => {
    log.error(`internal error: ${err.stack ?? err.message}`);
    stop('internal error', 1);
  });

  try {
    await agent.start();
  } catch (err) {
    log.error((err as Error).message);
    await agent.stop().catch(() => undefined);
    return 1;
  }
  log.info('running; press Ctrl-C to stop');
  if (config.durationSeconds > 0) {
    setTimeout(() => stop(`--duration ${config.durationSeconds}s elapsed`, 0), config.durationSeconds * 1000).unref();
  }
  return stopped;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Handles from the gRPC client can linger after shutdown; do not wait on them.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: Error) => {
    process.stderr.write(`ebpf-otel: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
