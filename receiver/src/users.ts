/**
 * uid -> user name, from /etc/passwd (re-read at most once a minute, so users
 * added while the agent runs are found). Unknown uids stay numeric.
 */
import { readFileSync } from 'node:fs';

export class UserNames {
  private names = new Map<number, string>();
  private loadedAt = 0;

  constructor(private readonly passwdPath = '/etc/passwd') {}

  nameOf(uid: number): string | undefined {
    const now = Date.now();
    if (now - this.loadedAt > 60_000 || (!this.names.has(uid) && now - this.loadedAt > 5_000)) this.load(now);
    return this.names.get(uid);
  }

  private load(now: number): void {
    this.loadedAt = now;
    let text: string;
    try {
      text = readFileSync(this.passwdPath, 'utf8');
    } catch {
      return;
    }
    const names = new Map<number, string>();
    for (const line of text.split('\n')) {
      const [name, , uidText] = line.split(':');
      if (!name || uidText === undefined) continue;
      const uid = Number(uidText);
      if (Number.isInteger(uid)) names.set(uid, name);
    }
    this.names = names;
  }
}
