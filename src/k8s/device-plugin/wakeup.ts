/**
 * A level-triggered wake-up for a supervisor loop: `notify()` ends the current `wait()` early, or the
 * next one if nobody waits (so a change seen while the loop was busy is never lost). Timers are
 * unref()ed.
 */
import { setLongTimeout } from '../../util/timers.js';

export class Wakeup {
  private pending = false;
  private waiter: (() => void) | undefined;

  notify(): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter();
    } else {
      this.pending = true;
    }
  }

  /** Resolves after `ms` or at the next notify(); rejects with the signal's reason when it aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const finish = (): void => {
        timer.clear();
        signal?.removeEventListener('abort', onAbort);
        this.waiter = undefined;
        resolve();
      };
      const onAbort = (): void => {
        timer.clear();
        this.waiter = undefined;
        reject(signal!.reason);
      };
      const timer = setLongTimeout(finish, ms);
      this.waiter = finish;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
