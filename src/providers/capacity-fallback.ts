/**
 * The capacity fallback every cloud provider shares: try the candidate types in turn (from
 * `fallbackCandidates`) while the cloud answers CAPACITY, log each move, and when none is left fail
 * with one message that names every type tried. Any other error ends the walk at once.
 *
 * A CAPACITY refusal may carry `partialInstanceId` (the cloud accepted the VM, then found no room,
 * and the next attempt reuses it): the final error carries the last such id, so the caller deletes
 * it. A provider whose partial instance must go before the next type can be tried says so with
 * `stopOn`, and that refusal ends the walk unchanged.
 */
import type { Logger } from 'pino';
import { ProviderError, asProviderError } from './errors.js';

export interface FallbackOptions<T> {
  /** Types in the order to try; the first is the selected one. */
  candidates: readonly string[];
  /** Where the capacity is missing, for messages ("in us-east-1", "in eastus2"). */
  where: string;
  /** What a candidate is called in messages: type (default), size, profile. */
  noun?: string;
  /** The request's logger (request-log.ts): it carries the sandbox's keys. */
  log: Logger;
  signal: AbortSignal;
  /** The cloud's own name of a capacity refusal (`InsufficientInstanceCapacity`), for messages. */
  cloudCode(err: ProviderError): string;
  attempt(type: string): Promise<T>;
  /** A CAPACITY refusal that must end the walk as it is. */
  stopOn?(err: ProviderError): boolean;
}

export async function tryTypesInTurn<T>(o: FallbackOptions<T>): Promise<{ result: T; type: string }> {
  const refusals: string[] = [];
  let partialInstanceId: string | undefined;
  for (const [i, type] of o.candidates.entries()) {
    try {
      return { result: await o.attempt(type), type };
    } catch (err) {
      const perr = asProviderError(err, o.signal);
      if (perr.code !== 'CAPACITY' || o.stopOn?.(perr)) throw perr;
      partialInstanceId = perr.partialInstanceId ?? partialInstanceId;
      refusals.push(`${o.cloudCode(perr) || 'no capacity'} for ${type} ${o.where}`);
      const next = o.candidates[i + 1];
      if (next) {
        o.log.warn({ instanceType: type, next, err: perr.message }, `no capacity for ${type}; trying ${next}`);
        continue;
      }
      const tried = o.candidates.length > 1 ? `; tried ${o.candidates.slice(1).join(', ')}` : '';
      const none = `no other allowed ${o.noun ?? 'type'} fits the pod`;
      throw new ProviderError('CAPACITY', `${refusals[0]}${tried} (${refusals.slice(1).join('; ') || none})`, { partialInstanceId, cause: err });
    }
  }
  throw new ProviderError('INTERNAL', `no instance ${o.noun ?? 'type'} to try`);
}
