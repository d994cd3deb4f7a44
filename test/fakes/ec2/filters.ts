/**
 * EC2 `Filter.N.Name` / `Filter.N.Value.M`: values are OR-ed within a filter, filters AND-ed, and
 * values may use `*` and `?` wildcards. Each Describe action declares the filter names it knows;
 * `tag:<key>`, `tag-key` and `tag-value` come for free where the resource has tags.
 */
import { Ec2Error, missingParameter } from './errors.js';
import type { QueryParams } from './query.js';
import type { Tags } from './resources.js';

export interface Filter {
  name: string;
  values: string[];
}

/** For each filter name, the values an item offers to match against. */
export type FilterFields<T> = Record<string, (item: T) => readonly (string | number | undefined)[]>;

export function readFilters(p: QueryParams): Filter[] {
  return p.groups('Filter').map((g) => {
    const values = g.list('Value');
    if (values.length === 0) throw missingParameter(g.label('Value.1'));
    return { name: g.required('Name'), values };
  });
}

function wildcard(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) re += escapeRegExp(pattern[++i]!);
    else if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`, 's');
}

function escapeRegExp(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** Builds the predicate for `filters`; unknown filter names are refused the way EC2 does. */
export function filterPredicate<T>(filters: readonly Filter[], fields: FilterFields<T>, tagsOf?: (item: T) => Tags): (item: T) => boolean {
  const tests = filters.map((f) => {
    const patterns = f.values.map(wildcard);
    const any = (candidates: readonly (string | number | undefined)[]): boolean =>
      candidates.some((c) => c !== undefined && patterns.some((re) => re.test(String(c))));
    const field = Object.hasOwn(fields, f.name) ? fields[f.name] : undefined;
    if (field) return (item: T) => any(field(item));
    if (tagsOf && f.name.startsWith('tag:')) {
      const key = f.name.slice(4);
      return (item: T) => any([tagsOf(item)[key]]);
    }
    if (tagsOf && f.name === 'tag-key') return (item: T) => any(Object.keys(tagsOf(item)));
    if (tagsOf && f.name === 'tag-value') return (item: T) => any(Object.values(tagsOf(item)));
    throw new Ec2Error('InvalidParameterValue', `The filter '${f.name}' is invalid`);
  });
  return (item) => tests.every((t) => t(item));
}
