/**
 * The `--verify` runner every provider shares: each check gives one line; a failing check is
 * recorded and the next one runs, so one broken key never hides another.
 */
import { messageOf } from '../util/errors.js';
import type { VerifyCheck } from './registry.js';

export class VerifyChecks {
  readonly results: VerifyCheck[] = [];

  /** Runs `fn`; its string is the line's detail. Resolves whether it passed. */
  async check(name: string, fn: () => Promise<string> | string): Promise<boolean> {
    try {
      this.results.push({ name, ok: true, detail: await fn() });
      return true;
    } catch (err) {
      this.results.push({ name, ok: false, detail: messageOf(err) });
      return false;
    }
  }
}
