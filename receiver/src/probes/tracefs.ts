/**
 * Tracepoint attachment reads the event id from tracefs, which a fresh
 * machine may not have mounted. We mount it (as root) or say how.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Logger } from '../log';

const TRACEFS = '/sys/kernel/tracing';
const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';

export class TracefsError extends Error {}

export function ensureTracefs(log?: Logger): string {
  if (existsSync(`${TRACEFS}/events`)) return TRACEFS;
  if (existsSync(`${DEBUGFS_TRACING}/events`)) return DEBUGFS_TRACING;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new TracefsError(
      `tracefs is not mounted at ${TRACEFS} and mounting it failed${stderr ? ` (${stderr})` : ''}: ` +
        `run 'mount -t tracefs tracefs ${TRACEFS}' as root (in a container: mount /sys/kernel/tracing from the host)`,
    );
  }
  log?.info(`mounted tracefs at ${TRACEFS}`);
  return TRACEFS;
}
