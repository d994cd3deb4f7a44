/**
 * The LibvirtApi with every call passed through `around` (retries, injected faults): one Proxy,
 * so a method added to the API is covered without a line here. `close` is passed through as is.
 * Non-function members (e.g. `description`) are read from the wrapped object.
 */
import type { LibvirtApi } from './client.js';

export type CallWrapper = (method: string, args: unknown[], call: (args: unknown[]) => Promise<unknown>) => Promise<unknown>;

export function wrapCalls(api: LibvirtApi, around: CallWrapper): LibvirtApi {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...a: unknown[]) => Promise<unknown>;
      const method = String(prop);
      if (method === 'close') return fn.bind(target);
      return (...args: unknown[]): Promise<unknown> => around(method, args, (a) => fn.apply(target, a));
    },
  });
}

/** The AbortSignal among a call's arguments (every LibvirtApi call takes one). */
export const signalOf = (args: readonly unknown[]): AbortSignal | undefined => args.find((a): a is AbortSignal => a instanceof AbortSignal);
