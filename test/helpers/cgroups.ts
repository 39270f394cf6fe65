/**
 * Real cgroup v2 groups named the way container runtimes and the kubelet name
 * them, made as a runtime makes them: mkdir under the cgroup2 mount, then a
 * process writes its pid to cgroup.procs and execs the workload. Every group
 * lives under a top directory unique to this test process, removed at the end.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmdirSync, statSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { findCgroup2Root } from '../../receiver/src/workload/mounts';

export function cgroup2Root(): string {
  const root = findCgroup2Root(undefined);
  if (root === undefined) throw new Error('no cgroup2 mount on this machine (findmnt -t cgroup2): the workload tests need one');
  return root;
}

export const randomContainerId = (): string => randomBytes(32).toString('hex');
export const randomPodUid = (): string => randomUUID();

let counter = 0;

export class TestCgroups {
  readonly top: string;

  constructor(readonly root = cgroup2Root()) {
    this.top = path.join(root, `ebpf-otel-test-${process.pid}-${counter++}`);
    mkdirSync(this.top);
  }

  /** Makes <top>/<relative> (every level) and returns it. */
  make(relative: string): TestCgroup {
    const dir = path.join(this.top, relative);
    mkdirSync(dir, { recursive: true });
    return new TestCgroup(dir);
  }

  /** Removes every group under the top (deepest first). Processes must have left them. */
  removeAll(): void {
    const remove = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) remove(path.join(dir, entry.name));
      }
      try {
        rmdirSync(dir);
      } catch {
        // still populated (a process we did not wait for): leave it, the machine is not ours
      }
    };
    if (existsSync(this.top)) remove(this.top);
  }
}

export class TestCgroup {
  constructor(readonly dir: string) {}

  /** The cgroup v2 id (bpf_get_current_cgroup_id) = the group's inode number. */
  get id(): bigint {
    return statSync(this.dir, { bigint: true }).ino;
  }

  /** Starts `file args` inside this group: the shell moves itself in, then execs. */
  spawn(file: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('sh', ['-c', `echo $$ > '${this.dir}/cgroup.procs' && exec "$0" "$@"`, file, ...args], options);
  }

  /** Runs to completion inside this group; resolves with the pid and stdout. */
  run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ pid: number; code: number | null; stdout: string }> {
    return new Promise((resolve, reject) => {
      const child = this.spawn(file, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.on('error', reject);
      child.on('exit', (code) => resolve({ pid: child.pid ?? 0, code, stdout }));
    });
  }

  remove(): void {
    rmdirSync(this.dir);
  }
}
