/**
 * IBM user tags and the identity fingerprint.
 *
 * IBM tags are plain strings attached through the Global Tagging API after the instance exists; ours
 * are `key:value` (reference §4.4). Between the create and the attach an instance has no tags, so
 * every instance also carries, from the moment POST /instances creates it, a fingerprint of its
 * cluster, node and sandbox in the name of its primary network interface:
 *
 *     pp-<sha256("cluster\0"+cluster)[:12]>-<sha256("node\0"+node)[:12]>-<sha256("sandbox\0"+sandbox)[:32]>
 *
 * (61 characters, a valid VPC name). `listInstances` checks the fingerprint against the tags it is
 * asked for, so an instance whose tags were never attached (a lost create reply, a crash, a failed
 * attach) is still found by its sandbox tags. Values are compared case-insensitively, as IBM compares tags.
 */
import { createHash } from 'node:crypto';
import { TagKey } from '../naming.js';

export const MAX_TAG_LENGTH = 128;
const TAG_CHARS = /^[A-Za-z0-9 _.:-]+$/;

/** Why `tag` is not a valid IBM user tag, or undefined when it is. */
export function checkTag(tag: string): string | undefined {
  if (tag.length === 0) return 'empty';
  if (tag.length > MAX_TAG_LENGTH) return `${tag.length} characters; IBM tags have at most ${MAX_TAG_LENGTH}`;
  if (!TAG_CHARS.test(tag)) return 'IBM tags may hold only letters, digits, spaces and _ . : -';
  if (tag !== tag.trim()) return 'leading or trailing space';
  return undefined;
}

/** `key:value` (or a bare label) → [key, value]; the key ends at the first colon. */
export function parseTag(tag: string): [string, string] {
  const i = tag.indexOf(':');
  return i < 0 ? [tag, ''] : [tag.slice(0, i), tag.slice(i + 1)];
}

export function tagRecord(tags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags) {
    const [k, v] = parseTag(t);
    out[k] = v;
  }
  return out;
}

/** What the record becomes on the instance: `key:value`, or the key alone for an empty value. */
export function tagStrings(record: Readonly<Record<string, string>>): string[] {
  return Object.entries(record).map(([k, v]) => (v === '' ? k : `${k}:${v}`));
}

/** Our identity keys, the ones the fingerprint covers. */
const IDENTITY = [TagKey.CLUSTER, TagKey.NODE, TagKey.SANDBOX] as const;
type IdentityKey = (typeof IDENTITY)[number];

const LENGTHS: Record<IdentityKey, number> = { [TagKey.CLUSTER]: 12, [TagKey.NODE]: 12, [TagKey.SANDBOX]: 32 };
const DOMAIN: Record<IdentityKey, string> = { [TagKey.CLUSTER]: 'cluster', [TagKey.NODE]: 'node', [TagKey.SANDBOX]: 'sandbox' };
const FINGERPRINT = /^pp-([0-9a-f]{12})-([0-9a-f]{12})-([0-9a-f]{32})$/;

function part(key: IdentityKey, value: string): string {
  return createHash('sha256').update(`${DOMAIN[key]}\0${value.toLowerCase()}`).digest('hex').slice(0, LENGTHS[key]);
}

/** The primary interface name of an instance created for these ids. */
export function fingerprint(ids: { cluster: string; node: string; sandbox: string }): string {
  return `pp-${part(TagKey.CLUSTER, ids.cluster)}-${part(TagKey.NODE, ids.node)}-${part(TagKey.SANDBOX, ids.sandbox)}`;
}

export function isFingerprint(name: string | undefined): boolean {
  return name !== undefined && FINGERPRINT.test(name);
}

/**
 * What the fingerprint says about `filter`: `match` (every key of the filter is an identity key and
 * agrees), `mismatch` (an identity key disagrees: not this filter's instance, whatever its tags say),
 * or `unknown` (no fingerprint, or keys it does not cover: the tags decide).
 */
export function fingerprintVerdict(nicName: string | undefined, filter: Readonly<Record<string, string>>): 'match' | 'mismatch' | 'unknown' {
  const m = nicName === undefined ? null : FINGERPRINT.exec(nicName);
  if (!m) return 'unknown';
  const have: Record<IdentityKey, string> = { [TagKey.CLUSTER]: m[1]!, [TagKey.NODE]: m[2]!, [TagKey.SANDBOX]: m[3]! };
  let coversAll = true;
  for (const [k, v] of Object.entries(filter)) {
    if (!(IDENTITY as readonly string[]).includes(k)) {
      coversAll = false;
      continue;
    }
    if (part(k as IdentityKey, v) !== have[k as IdentityKey]) return 'mismatch';
  }
  return coversAll ? 'match' : 'unknown';
}

/** Whether `tags` (as read back from IBM) carry every entry of `filter`, ignoring case. */
export function tagsMatch(tags: Readonly<Record<string, string>>, filter: Readonly<Record<string, string>>): boolean {
  const lower = new Map(Object.entries(tags).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
  return Object.entries(filter).every(([k, v]) => lower.get(k.toLowerCase()) === v.toLowerCase());
}

/** Whether any of our identity keys is among the tags (an instance whose attach has happened). */
export function hasIdentityTags(tags: Readonly<Record<string, string>>): boolean {
  const keys = new Set(Object.keys(tags).map((k) => k.toLowerCase()));
  return IDENTITY.some((k) => keys.has(k));
}
