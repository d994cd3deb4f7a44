/**
 * MaxResults/NextToken paging. Items are ordered by a key and the token remembers the last key
 * handed out, so pages stay consistent while items are added or removed between calls.
 */
import { Ec2Error } from './errors.js';
import type { QueryParams } from './query.js';

export interface Page<T> {
  items: T[];
  nextToken?: string;
}

function encodeToken(key: string): string {
  return Buffer.from(JSON.stringify({ after: key }), 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (parsed && typeof parsed === 'object' && 'after' in parsed && typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through to the EC2 error below
  }
  throw new Ec2Error('InvalidPaginationToken', 'The specified pagination token is not valid or is expired.');
}

export function paginate<T>(items: readonly T[], p: QueryParams, keyOf: (item: T) => string, range: { min: number; max: number }): Page<T> {
  const maxResults = p.int('MaxResults', range);
  const token = p.str('NextToken');
  const keyed = items.map((item) => ({ key: keyOf(item), item })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const after = token ? decodeToken(token) : undefined;
  const rest = after === undefined ? keyed : keyed.filter((k) => k.key > after);
  if (maxResults === undefined || rest.length <= maxResults) return { items: rest.map((k) => k.item) };
  const page = rest.slice(0, maxResults);
  return { items: page.map((k) => k.item), nextToken: encodeToken(page[page.length - 1]!.key) };
}
