/**
 * At most one warning per interval for a failure that repeats (an apiserver outage would otherwise
 * write one line per pod event). The next line that gets through says how many were held back.
 */
import type { Logger } from 'pino';

export class ThrottledWarn {
  private last = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs at warn unless a line went out less than `intervalMs` ago; returns whether it logged. */
  warn(fields: Record<string, unknown>, message: string): boolean {
    const t = this.now();
    if (t - this.last < this.intervalMs) {
      this.suppressed++;
      return false;
    }
    const extra = this.suppressed > 0 ? { suppressed: this.suppressed } : {};
    this.last = t;
    this.suppressed = 0;
    this.log.warn({ ...fields, ...extra }, message);
    return true;
  }
}
