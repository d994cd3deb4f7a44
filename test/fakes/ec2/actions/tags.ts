/** `TagSpecification.N.ResourceType` / `.Tag.M.Key` / `.Tag.M.Value`, with EC2's limits on tags. */
import { invalidValue } from '../errors.js';
import type { QueryParams } from '../query.js';
import type { Tags } from '../resources.js';

/** Reads `Tag.N.Key/Value` under `p` with EC2's limits on tags. */
export function readTags(p: QueryParams): Tags {
  const tags: Tags = {};
  const groups = p.groups('Tag');
  if (groups.length > 50) throw invalidValue(p.label('Tag'), '', 'The number of tags for a resource may not exceed 50.');
  for (const g of groups) {
    const key = g.required('Key');
    const value = g.str('Value') ?? '';
    if (key.toLowerCase().startsWith('aws:')) throw invalidValue(g.label('Key'), key, "Tag keys starting with 'aws:' are reserved for internal use");
    if (key.length > 128) throw invalidValue(g.label('Key'), key, 'Tag key exceeds the maximum length of 128 characters');
    if (value.length > 256) throw invalidValue(g.label('Value'), value, 'Tag value exceeds the maximum length of 256 characters');
    if (Object.hasOwn(tags, key)) throw invalidValue(g.label('Key'), key, `Duplicate tag key '${key}' specified.`);
    tags[key] = value;
  }
  return tags;
}

/** `TagSpecification.N` restricted to `allowed` resource types, one specification per type. */
export function readTagSpecifications<T extends string>(p: QueryParams, allowed: readonly T[]): Record<T, Tags> {
  const out = Object.fromEntries(allowed.map((t) => [t, {}])) as Record<T, Tags>;
  const seen = new Set<string>();
  for (const spec of p.groups('TagSpecification')) {
    const type = spec.required('ResourceType');
    if (!(allowed as readonly string[]).includes(type)) throw invalidValue(spec.label('ResourceType'), type, `'${type}' is not a valid taggable resource type for this operation.`);
    if (seen.has(type)) throw invalidValue(spec.label('ResourceType'), type, 'The same resource type may not be specified more than once in tag specifications.');
    seen.add(type);
    out[type as T] = readTags(spec);
  }
  return out;
}
