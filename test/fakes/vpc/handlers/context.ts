/** What every handler gets, and what it returns. */
import { invalid } from '../errors.js';
import type { FakeRequest, StartFailures } from '../faults.js';
import type { VpcModel } from '../model.js';
import type { RenderContext } from '../render.js';
import type { FakeVpcState } from '../resources.js';

export interface HandlerContext {
  model: VpcModel;
  state: FakeVpcState;
  req: FakeRequest;
  render: RenderContext;
  startFailures: StartFailures;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
}

export type Handler = (c: HandlerContext) => HandlerResult;

/** A page of `items` (sorted as given) after `start` (the id of the first item of the page). */
export function paginate<T extends { id: string }>(c: HandlerContext, items: T[], path: string, keep: URLSearchParams): { page: T[]; extra: Record<string, unknown> } {
  const limitRaw = c.req.query.get('limit');
  const limit = limitRaw === null ? 50 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid('invalid_limit', `limit must be an integer from 1 to 100, got ${limitRaw}`, 'limit', limitRaw);
  const start = c.req.query.get('start');
  const from = start === null ? 0 : items.findIndex((i) => i.id === start);
  const first = Math.max(0, from);
  const page = items.slice(first, first + limit);
  const following = items[first + limit];
  const href = (extra: Record<string, string>): string => {
    const q = new URLSearchParams(keep);
    q.set('limit', String(limit));
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return `${c.render.base}${path}?${q.toString()}`;
  };
  return {
    page,
    extra: { limit, total_count: items.length, first: { href: href({}) }, ...(following ? { next: { href: href({ start: following.id }) } } : {}) },
  };
}
