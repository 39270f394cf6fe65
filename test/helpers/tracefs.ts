// Tracepoint attachment (perf_event_open) needs the tracepoint's id from
// tracefs, which is not mounted on a fresh machine here. Tests that attach
// tracepoints call ensureTracefs() first.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const TRACEFS = '/sys/kernel/tracing';

/** Mounts tracefs at /sys/kernel/tracing unless it (or debugfs's tracing dir) is already there; returns the events directory. */
export function ensureTracefs(): string {
  for (const events of [`${TRACEFS}/events`, '/sys/kernel/debug/tracing/events']) {
    if (fs.existsSync(events)) return events;
  }
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error);
    throw new Error(`tracefs is not mounted and mounting it failed (${stderr}): run as root, or mount -t tracefs tracefs ${TRACEFS}`);
  }
  if (!fs.existsSync(`${TRACEFS}/events`)) throw new Error(`mounted tracefs at ${TRACEFS} but ${TRACEFS}/events is missing`);
  return `${TRACEFS}/events`;
}
