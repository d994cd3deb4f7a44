/**
 * Waiting on work that cannot itself be cancelled (a shared dial loop, a client library's call):
 * the wait ends when the signal aborts, the work goes on.
 */

/** The text of why `signal` aborted: its reason's message, or the reason itself (a thrown string). */
export function abortMessage(signal: AbortSignal): string {
  return String((signal.reason as Error)?.message ?? signal.reason);
}

/**
 * Settles like `p`, or rejects with `reasonOf(signal)` (default: `signal.reason`) as soon as
 * `signal` aborts, whichever comes first — also when it has aborted already. `p` keeps running; a
 * rejection it settles with after the abort is swallowed. The listener is removed when `p` settles.
 */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal, reasonOf: (signal: AbortSignal) => unknown = (s) => s.reason): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(reasonOf(signal) as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf(signal) as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
