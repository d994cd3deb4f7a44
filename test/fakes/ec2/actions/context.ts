/** What an action handler gets, and the checks most handlers share. */
import { dryRunOperation, Ec2Error, notFound } from '../errors.js';
import type { Ec2Model } from '../model.js';
import type { QueryParams } from '../query.js';
import type { FakeEc2State } from '../resources.js';
import type { XmlNode } from '../xml.js';

export interface ActionContext {
  model: Ec2Model;
  state: FakeEc2State;
  params: QueryParams;
  /** The region of the request's credential scope. */
  region: string;
}

/** Validates, then either returns the reply body or throws an `Ec2Error`; effects happen only on success. */
export type ActionHandler = (ctx: ActionContext) => XmlNode;

/**
 * EC2's DryRun: once the request has been validated, answer 412 DryRunOperation instead of acting.
 * Handlers call this after their checks and before their first effect.
 */
export function dryRunGate(ctx: ActionContext): void {
  if (ctx.params.bool('DryRun')) throw dryRunOperation();
}

/** Refuses ids that do not even look like `prefix-…` with `<code>` (a `*.Malformed` code). */
export function checkIdShape(ids: readonly string[], prefix: string, code: string): void {
  for (const id of ids) {
    if (!new RegExp(`^${prefix}-[0-9a-zA-Z]+$`).test(id)) throw new Ec2Error(code, `Invalid id: "${id}" (expecting "${prefix}-...")`);
  }
}

/**
 * `rows` narrowed to those whose `key` is one of `wanted` (all of them when nothing is asked for); the
 * wanted ones that are not there are named in one error, made by `missing`.
 */
export function narrowTo<T>(rows: T[], wanted: readonly string[], key: (t: T) => string, missing: (names: string[]) => Error): T[] {
  if (wanted.length === 0) return rows;
  const absent = wanted.filter((w) => !rows.some((r) => key(r) === w));
  if (absent.length > 0) throw missing(absent);
  return rows.filter((r) => wanted.includes(key(r)));
}

/** Looks every id up; all the missing ones are named in one `notFound` error, as EC2 does. */
export function lookupAll<T>(ids: readonly string[], map: ReadonlyMap<string, T>, code: string, noun: string): T[] {
  const unique = [...new Set(ids)];
  const missing = unique.filter((id) => !map.has(id));
  if (missing.length > 0) throw notFound(code, noun, missing);
  return unique.map((id) => map.get(id)!);
}
