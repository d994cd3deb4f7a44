/** Node's setTimeout fires after 1 ms for delays over 2^31−1 ms (~24.8 days); longer ones re-arm. */
const MAX_DELAY = 0x7fffffff;

export interface LongTimer {
  clear(): void;
}

/** An unref()ed timer for any delay, however long. */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let timer: NodeJS.Timeout;
  const due = Date.now() + ms;
  const arm = (left: number): void => {
    timer = setTimeout(() => {
      const rest = due - Date.now();
      if (rest > 0) arm(rest);
      else fn();
    }, Math.min(Math.max(0, left), MAX_DELAY));
    timer.unref();
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
