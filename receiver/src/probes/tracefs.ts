/**
 * Tracepoint attachment reads the event id from tracefs, which a fresh
 * machine may not have mounted. We mount it (as root) or say how.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import type { Logger } from '../log';

const TRACEFS = '/sys/kernel/tracing';
const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';

export class TracefsError extends Error {}

/** stat(2), not access(2): access checks the real uid without capabilities, so a non-root agent holding CAP_DAC_READ_SEARCH would see nothing. */
function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

export function ensureTracefs(log?: Logger): string {
  if (exists(`${TRACEFS}/events`)) return TRACEFS;
  if (exists(`${DEBUGFS_TRACING}/events`)) return DEBUGFS_TRACING;
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
