/**
 * A real interactive bash in a detached tmux session on a private tmux server
 * (-L), so tests type into a terminal as a person would and never touch
 * anyone else's tmux.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from './ring-capture';

export class TmuxShell {
  readonly socket: string;
  readonly pid: number;
  readonly tty: string;

  private constructor(socket: string, pid: number, tty: string) {
    this.socket = socket;
    this.pid = pid;
    this.tty = tty;
  }

  /** Starts `command` (default: a bash without rc files) in a 200x50 pane. */
  static start(name: string, command = 'bash --norc --noprofile'): TmuxShell {
    const socket = `ebpf-otel-${name}-${process.pid}`;
    const started = spawnSync('tmux', ['-L', socket, 'new-session', '-d', '-s', 't', '-x', '200', '-y', '50', command], { encoding: 'utf8' });
    if (started.status !== 0) throw new Error(`tmux failed to start (install tmux: scripts/bootstrap.sh test): ${started.stderr}`);
    const shell = new TmuxShell(socket, 0, '');
    const pid = Number(shell.tmux('display-message', '-p', '-t', 't', '#{pane_pid}'));
    const tty = shell.tmux('display-message', '-p', '-t', 't', '#{pane_tty}');
    return new TmuxShell(socket, pid, tty);
  }

  tmux(...args: string[]): string {
    const out = spawnSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${out.stderr}`);
    return out.stdout.trim();
  }

  /** Types text literally (no key names), then presses Enter unless told not to. */
  type(text: string, enter = true): void {
    if (text !== '') this.tmux('send-keys', '-t', 't', '-l', text);
    if (enter) this.tmux('send-keys', '-t', 't', 'Enter');
  }

  /** Presses keys by tmux name ('C-d', 'Enter'). */
  keys(...names: string[]): void {
    this.tmux('send-keys', '-t', 't', ...names);
  }

  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', 't');
  }

  /**
   * Waits until bash shows its prompt (PS1 of bash --norc: "bash-5.2# ") and
   * is blocked waiting for the terminal (readline's read/select/poll), as the
   * kernel reports it in /proc/<pid>/stat and wchan.
   */
  async waitForPrompt(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (/bash-[\d.]+[#$] *$/m.test(this.screen()) && this.waitingForInput()) return;
      await sleep(20);
    }
    throw new Error(`bash did not show a prompt in ${timeoutMs} ms; screen:\n${this.screen()}`);
  }

  /** The shell sleeps in a terminal read or a select/poll on it. */
  waitingForInput(): boolean {
    try {
      const state = /\) (\S) /.exec(readFileSync(`/proc/${this.pid}/stat`, 'utf8'))?.[1];
      const wchan = readFileSync(`/proc/${this.pid}/wchan`, 'utf8');
      return state === 'S' && /poll|select|tty_read|wait_woken/.test(wchan);
    } catch {
      return false;
    }
  }

  /** Waits until the screen shows `text` (e.g. a marker echoed after a command). */
  async waitFor(text: RegExp, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (text.test(this.screen())) return;
      await sleep(50);
    }
    throw new Error(`${String(text)} not on screen after ${timeoutMs} ms:\n${this.screen()}`);
  }

  alive(): boolean {
    return spawnSync('tmux', ['-L', this.socket, 'has-session', '-t', 't']).status === 0;
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}
