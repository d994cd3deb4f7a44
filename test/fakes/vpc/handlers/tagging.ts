/** Global Tagging: `POST /v3/tags/attach` and `GET /v3/tags?attached_to=<crn>` (user tags). */
import { invalid } from '../errors.js';
import type { HandlerContext, HandlerResult } from './context.js';

const TAG = /^[A-Za-z0-9 _.:-]{1,128}$/;

export function attachTag(c: HandlerContext): HandlerResult {
  const type = c.req.query.get('tag_type') ?? 'user';
  if (type !== 'user') throw invalid('invalid_tag_type', `tag_type ${type} is not supported by this fake`);
  const b = (c.req.body ?? {}) as { resources?: { resource_id?: string }[]; tag_names?: string[] };
  if (!Array.isArray(b.resources) || b.resources.length === 0) throw invalid('missing_field', 'resources is required', 'resources');
  if (!Array.isArray(b.tag_names) || b.tag_names.length === 0) throw invalid('missing_field', 'tag_names is required', 'tag_names');
  for (const t of b.tag_names) if (typeof t !== 'string' || !TAG.test(t) || t !== t.trim()) throw invalid('invalid_tag', `"${String(t)}" is not a valid tag`, 'tag_names', t);
  const known = new Set([...c.state.instances.values()].map((i) => i.crn));
  const results = b.resources.map((r) => {
    const crn = r.resource_id ?? '';
    if (!known.has(crn) && !c.state.tags.has(crn)) return { resource_id: crn, is_error: true };
    const have = c.state.tags.get(crn) ?? [];
    for (const t of b.tag_names!) if (!have.some((h) => h.toLowerCase() === t.toLowerCase())) have.push(t);
    c.state.tags.set(crn, have);
    return { resource_id: crn, is_error: false };
  });
  return { status: 200, body: { results } };
}

export function listTags(c: HandlerContext): HandlerResult {
  const crn = c.req.query.get('attached_to');
  const offset = Number(c.req.query.get('offset') ?? 0);
  const limit = Number(c.req.query.get('limit') ?? 100);
  const all = crn === null ? [...new Set([...c.state.tags.values()].flat())] : (c.state.tags.get(crn) ?? []);
  const items = all.slice(offset, offset + limit).map((name) => ({ name }));
  return { status: 200, body: { total_count: all.length, offset, limit, items } };
}
