/**
 * The logger a provider uses for one request. The shim hands its sandbox's child logger (with
 * `sandbox`, `pod`, `namespace` bound) in the request, so a query for one sandbox finds the cloud's
 * lines too. Those keys are bound on the provider's own logger rather than logging through a child
 * of the sandbox's: pino cannot replace a bound key, and such a child would carry two `component`s.
 */
import type { Logger } from 'pino';

/**
 * `own` with the bindings of `given` (all but `component`) when the caller handed a logger, else
 * with `fallback` (e.g. `{ sandbox: id }`, so a direct caller still gets the sandbox key).
 */
export function requestLog(own: Logger, given: Logger | undefined, fallback: Record<string, unknown> = {}): Logger {
  if (given) {
    const { component: _component, ...bound } = given.bindings();
    return own.child(bound);
  }
  return Object.keys(fallback).length > 0 ? own.child(fallback) : own;
}
